package stream

import (
	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// KeyValueStore is typed access to a task's key-value store. Keys are
// ordered by their encoded bytes.
type KeyValueStore[K, V any] struct {
	kv state.KeyValue
	ks serde.Serde[K]
	vs serde.Serde[V]
}

// NewKeyValueStore gives typed access to a raw store (the test driver's
// stores, say).
func NewKeyValueStore[K, V any](kv state.KeyValue, ks serde.Serde[K], vs serde.Serde[V]) *KeyValueStore[K, V] {
	return &KeyValueStore[K, V]{kv: kv, ks: ks, vs: vs}
}

// Get returns the value of k; ok is false when k is absent.
func (s *KeyValueStore[K, V]) Get(k K) (v V, ok bool, err error) {
	kb, err := s.ks.Encode(k)
	if err != nil {
		return v, false, err
	}
	b, ok, err := s.kv.Get(kb)
	if err != nil || !ok {
		return v, false, err
	}
	v, err = s.vs.Decode(b)
	return v, err == nil, err
}

// Put sets k to v.
func (s *KeyValueStore[K, V]) Put(k K, v V) error {
	kb, err := s.ks.Encode(k)
	if err != nil {
		return err
	}
	vb, err := s.vs.Encode(v)
	if err != nil {
		return err
	}
	return s.kv.Put(kb, vb)
}

// Delete removes k.
func (s *KeyValueStore[K, V]) Delete(k K) error {
	kb, err := s.ks.Encode(k)
	if err != nil {
		return err
	}
	return s.kv.Delete(kb)
}

// All calls f for every pair in key order until f returns false.
func (s *KeyValueStore[K, V]) All(f func(K, V) bool) error {
	var derr error
	err := s.kv.Range(nil, nil, func(kb, vb []byte) bool {
		k, err := s.ks.Decode(kb)
		if err != nil {
			derr = err
			return false
		}
		v, err := s.vs.Decode(vb)
		if err != nil {
			derr = err
			return false
		}
		return f(k, v)
	})
	if err != nil {
		return err
	}
	return derr
}

// StoreRef names a key-value store added to a topology for the Processor
// API. Connect it to processors by naming it in Process; open it in the
// processor's Init.
type StoreRef[K, V any] struct {
	Name string
	ks   serde.Serde[K]
	vs   serde.Serde[V]
}

// AddKeyValueStore adds a key-value store to the topology.
func AddKeyValueStore[K, V any](b *Builder, name string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) StoreRef[K, V] {
	c := options(opts)
	b.g.AddStore(&engine.StoreDef{Name: name, Kind: engine.StoreKeyValue, Logged: !c.unlogged})
	return StoreRef[K, V]{Name: name, ks: ks, vs: vs}
}

// storeOpener is implemented by every ProcessorContext.
type storeOpener interface {
	procCtx() *engine.ProcCtx
}

// Open returns the store's instance in the processor's task. It fails if
// the processor was not connected to the store.
func (r StoreRef[K, V]) Open(ctx storeOpener) (*KeyValueStore[K, V], error) {
	kv, err := ctx.procCtx().Store(r.Name)
	if err != nil {
		return nil, err
	}
	return NewKeyValueStore(kv, r.ks, r.vs), nil
}

// openKV opens a DSL processor's store (connected by construction).
func openKV[K, V any](c *engine.ProcCtx, name string, ks serde.Serde[K], vs serde.Serde[V]) (*KeyValueStore[K, V], error) {
	kv, err := c.Store(name)
	if err != nil {
		return nil, err
	}
	return NewKeyValueStore(kv, ks, vs), nil
}
