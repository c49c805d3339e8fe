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

// Local returns the store behind kv whose changes are not recorded: the
// inner store of a Logged wrapper (or of any wrapper with a Local
// method), else kv itself.
//
// Window and session stores expire old windows through it, as Kafka
// Streams drops old segments without writing tombstones: the changelog
// keeps recently closed windows (its retention.ms, not tombstones, ends
// them), so a store restored after a task moved still holds the windows
// that closed just before, and records processed again do not re-create
// them with only themselves in them.
func Local(kv KeyValue) KeyValue {
	if l, ok := kv.(interface{ Local() KeyValue }); ok {
		return l.Local()
	}
	return kv
}

// Local returns the wrapped store.
func (l *logged) Local() KeyValue { return l.KeyValue }
