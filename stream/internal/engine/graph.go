package engine

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what a node does.
type Kind int

const (
	KindSource Kind = iota
	KindProcessor
	KindSink
)

func (k Kind) String() string {
	switch k {
	case KindSource:
		return "Source"
	case KindSink:
		return "Sink"
	}
	return "Processor"
}

// Node is one vertex of the graph: a source reading topics, a processor,
// or a sink writing a topic. A Node is immutable once the graph is built;
// each task makes its own processor instances from New.
type Node struct {
	Name    string
	Kind    Kind
	Parents []*Node

	// Sources: the topics read, how keys and values are decoded, and an
	// optional timestamp extractor (default: the record's timestamp).
	// Internal topics are named without the application id, which the
	// runtime prefixes (as Kafka Streams does with repartition topics).
	Topics      []string
	Internal    bool
	DecodeKey   func([]byte) (any, error)
	DecodeValue func([]byte) (any, error)
	Timestamp   func(r *Rec) int64

	// Processors: a constructor per task, and the stores the processor
	// may open.
	New    func() Proc
	Stores []string

	// Sinks: the topic written and the encoders. Partitions is the
	// partition count asked for an internal topic (0: as many as the
	// upstream sub-topology has tasks).
	Topic       string
	EncodeKey   func(any) ([]byte, error)
	EncodeValue func(any) ([]byte, error)
	Partitions  int32

	children []*Node
	index    int
	sub      int
}

// Children are the nodes this node forwards to, in the order they were
// added.
func (n *Node) Children() []*Node { return n.children }

// StoreKind is the layout a store's typed wrapper uses.
type StoreKind int

const (
	StoreKeyValue StoreKind = iota
	StoreWindow
	StoreSession
)

func (k StoreKind) String() string {
	switch k {
	case StoreWindow:
		return "window"
	case StoreSession:
		return "session"
	}
	return "key-value"
}

// StoreDef describes a state store. Each task of the sub-topology that uses
// it opens its own instance, logged to partition task.Partition of the
// changelog topic "<application id>-<name>-changelog".
type StoreDef struct {
	Name string
	Kind StoreKind
	// Logged: every change goes to the changelog (the default); a store
	// without a changelog starts empty on every task start.
	Logged bool
	// Retention bounds window and session stores: their changelog is
	// compacted and deleted after it (cleanup.policy=compact,delete).
	Retention time.Duration
}

// ChangelogTopic is the store's changelog name without the application id.
func (s *StoreDef) ChangelogTopic() string { return s.Name + "-changelog" }

// Graph collects nodes and stores as the DSL builds a topology. Errors
// found while building are kept and returned by Build, so the DSL's
// chained calls need not return errors one by one.
type Graph struct {
	nodes   []*Node
	byName  map[string]*Node
	sources map[string]*Node
	stores  map[string]*StoreDef
	users   map[string][]*Node
	copart  [][]*Node
	errs    []error
	seq     int
}

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	return &Graph{
		byName:  map[string]*Node{},
		sources: map[string]*Node{},
		stores:  map[string]*StoreDef{},
		users:   map[string][]*Node{},
	}
}

// Name returns a generated node name, unique in the graph, in Kafka
// Streams' style: PREFIX-0000000007.
func (g *Graph) Name(prefix string) string {
	name := fmt.Sprintf("%s-%010d", prefix, g.seq)
	g.seq++
	return name
}

// Errorf records a build error, returned by Build.
func (g *Graph) Errorf(format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf("stream: "+format, args...))
}

// Add adds n as a child of parents and returns it.
func (g *Graph) Add(n *Node, parents ...*Node) *Node {
	if n.Name == "" {
		n.Name = g.Name("KSTREAM-" + n.Kind.String())
	}
	if _, dup := g.byName[n.Name]; dup {
		g.Errorf("two nodes are named %q", n.Name)
	}
	for _, topic := range n.Topics {
		if n.Kind != KindSource {
			break
		}
		if prev, dup := g.sources[topic]; dup {
			g.Errorf("topic %q is read by two sources (%s, %s): read it once and reuse the stream", topic, prev.Name, n.Name)
		}
		g.sources[topic] = n
	}
	for _, s := range n.Stores {
		g.users[s] = append(g.users[s], n)
	}
	n.index = len(g.nodes)
	n.Parents = parents
	for _, p := range parents {
		if p.Kind == KindSink {
			g.Errorf("%s: a sink (%s) has no children", n.Name, p.Name)
		}
		p.children = append(p.children, n)
	}
	g.nodes = append(g.nodes, n)
	g.byName[n.Name] = n
	return n
}

// AddStore registers a store. Nodes name the stores they use in
// Node.Stores.
func (g *Graph) AddStore(s *StoreDef) {
	if _, dup := g.stores[s.Name]; dup {
		g.Errorf("two stores are named %q", s.Name)
		return
	}
	g.stores[s.Name] = s
}

// Store returns the store registered under name, or nil.
func (g *Graph) Store(name string) *StoreDef { return g.stores[name] }

// Copartition says the topics read by these source nodes must have the
// same number of partitions (the inputs of a join).
func (g *Graph) Copartition(sources ...*Node) {
	g.copart = append(g.copart, sources)
}

// Build checks the graph and cuts it into sub-topologies. It also starts
// one trial task of each sub-topology on empty in-memory stores (see
// probe), so that a processor opening a store it is not connected to is a
// build error.
func (g *Graph) Build() (*Topology, error) {
	errs := append([]error(nil), g.errs...)
	for name, users := range g.users {
		if g.stores[name] == nil {
			for _, n := range users {
				errs = append(errs, fmt.Errorf("stream: processor %s uses store %q, which is not in the topology", n.Name, name))
			}
		}
	}
	if len(g.sources) == 0 {
		errs = append(errs, errors.New("stream: the topology reads no topic"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t := cut(g)
	if err := probe(t); err != nil {
		return nil, err
	}
	return t, nil
}
