package stream

import (
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// Topology is a built topology: sub-topologies of sources, processors,
// stores and sinks. Describe prints it; Mermaid draws it.
type Topology = engine.Topology

// Builder collects the streams, tables and stores of a topology. Errors in
// the calls that build it are kept and returned by Build.
type Builder struct {
	g *engine.Graph
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder { return &Builder{g: engine.NewGraph()} }

// Build checks the topology and cuts it into sub-topologies.
func (b *Builder) Build() (*Topology, error) { return b.g.Build() }

// KV is a key and a value, as FlatMap returns them.
type KV[K, V any] struct {
	Key   K
	Value V
}

// Option names an operation or sets how it stores its results.
type Option interface{ apply(*opConfig) }

type opConfig struct {
	name       string
	valueSerde any
	keySerde   any
	partitions int32
	unlogged   bool
}

type optionFunc func(*opConfig)

func (f optionFunc) apply(c *opConfig) { f(c) }

// Named names the operation. A stateful operation's store takes the name
// (and its changelog topic is "<app id>-<name>-changelog"); a repartition
// before it is "<app id>-<name>-repartition".
func Named(name string) Option { return optionFunc(func(c *opConfig) { c.name = name }) }

// WithValueSerde sets the serde of the values an operation stores or
// writes, instead of serde.Default. Its type must be the operation's value
// type, or Build fails.
func WithValueSerde[V any](s serde.Serde[V]) Option {
	return optionFunc(func(c *opConfig) { c.valueSerde = s })
}

// WithKeySerde is WithValueSerde for keys.
func WithKeySerde[K any](s serde.Serde[K]) Option {
	return optionFunc(func(c *opConfig) { c.keySerde = s })
}

// Partitions sets the partition count of a repartition topic (default:
// as many as the upstream sub-topology's input).
func Partitions(n int32) Option { return optionFunc(func(c *opConfig) { c.partitions = n }) }

// WithoutChangelog keeps a store's changes out of a changelog topic: the
// store starts empty whenever its task starts.
func WithoutChangelog() Option { return optionFunc(func(c *opConfig) { c.unlogged = true }) }

func options(opts []Option) opConfig {
	var c opConfig
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// serdeOr returns the serde the options give for T, or def. A serde of
// another type is a build error.
func serdeOr[T any](b *Builder, what string, given any, def serde.Serde[T]) serde.Serde[T] {
	if given == nil {
		return def
	}
	s, ok := given.(serde.Serde[T])
	if !ok {
		var zero T
		b.g.Errorf("%s: the serde given is a %T, not a serde.Serde[%T]", what, given, zero)
		return def
	}
	return s
}

// name returns the option's name, or a generated one.
func (c opConfig) nameOr(b *Builder, prefix string) string {
	if c.name != "" {
		return c.name
	}
	return b.g.Name(prefix)
}

func decoder[T any](s serde.Serde[T]) func([]byte) (any, error) {
	return func(b []byte) (any, error) { return s.Decode(b) }
}

func encoder[T any](s serde.Serde[T]) func(any) ([]byte, error) {
	return func(v any) ([]byte, error) { return s.Encode(engine.As[T](v)) }
}
