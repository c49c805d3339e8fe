package state

// Logged wraps a store so that every change is also passed to record:
// Put as (key, value), Delete as (key, nil), after the store applied it.
// The stream runtime's record function writes the change to the store's
// compacted changelog topic; restoring a store is applying the changelog
// to the inner store, unwrapped.
func Logged(inner KeyValue, record func(key, value []byte) error) KeyValue {
	return &logged{KeyValue: inner, record: record}
}

type logged struct {
	KeyValue
	record func(key, value []byte) error
}

func (l *logged) Put(key, value []byte) error {
	if err := l.KeyValue.Put(key, value); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return l.record(key, value)
}

func (l *logged) Delete(key []byte) error {
	if err := l.KeyValue.Delete(key); err != nil {
		return err
	}
	return l.record(key, nil)
}
