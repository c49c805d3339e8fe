package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Topology is a built graph, cut into sub-topologies: the parts connected
// by parent/child edges or by a shared store. Repartition topics join
// sub-topologies only through Kafka: one's sink writes the topic another's
// source reads.
type Topology struct {
	Subs   []*Subtopology
	Stores map[string]*StoreDef
	// Copartitioned lists groups of source topics that must have the same
	// partition count (a join's inputs).
	Copartitioned [][]string
	nodes         []*Node
}

// Subtopology is the unit a task runs: one instance per input partition.
type Subtopology struct {
	ID      int
	Nodes   []*Node
	Sources map[string]*Node // topic → source node
	Stores  []*StoreDef
}

// SourceTopics returns the sub-topology's input topics, sorted, with
// internal ones marked by the returned set.
func (s *Subtopology) SourceTopics() (topics []string, internal map[string]bool) {
	internal = map[string]bool{}
	for t, n := range s.Sources {
		topics = append(topics, t)
		if n.Internal {
			internal[t] = true
		}
	}
	sort.Strings(topics)
	return topics, internal
}

// Sinks returns the sub-topology's sink nodes.
func (s *Subtopology) Sinks() []*Node {
	var out []*Node
	for _, n := range s.Nodes {
		if n.Kind == KindSink {
			out = append(out, n)
		}
	}
	return out
}

func cut(g *Graph) *Topology {
	parent := make([]int, len(g.nodes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		ra, rb := find(a), find(b)
		if ra < rb {
			parent[rb] = ra
		} else if rb < ra {
			parent[ra] = rb
		}
	}
	for _, n := range g.nodes {
		for _, p := range n.Parents {
			union(n.index, p.index)
		}
	}
	for _, users := range g.users {
		for _, u := range users[1:] {
			union(users[0].index, u.index)
		}
	}
	t := &Topology{Stores: g.stores, nodes: g.nodes}
	byRoot := map[int]*Subtopology{}
	for _, n := range g.nodes {
		r := find(n.index)
		s := byRoot[r]
		if s == nil {
			s = &Subtopology{ID: len(t.Subs), Sources: map[string]*Node{}}
			byRoot[r] = s
			t.Subs = append(t.Subs, s)
		}
		n.sub = s.ID
		s.Nodes = append(s.Nodes, n)
		for _, topic := range n.Topics {
			s.Sources[topic] = n
		}
		for _, name := range n.Stores {
			if def := g.stores[name]; !slices.Contains(s.Stores, def) {
				s.Stores = append(s.Stores, def)
			}
		}
	}
	for _, group := range g.copart {
		var topics []string
		for _, n := range group {
			topics = append(topics, n.Topics...)
		}
		sort.Strings(topics)
		t.Copartitioned = append(t.Copartitioned, slices.Compact(topics))
	}
	return t
}

// Node returns the node named name, or nil.
func (t *Topology) Node(name string) *Node {
	for _, n := range t.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// SubOf returns the sub-topology a node belongs to.
func (t *Topology) SubOf(n *Node) *Subtopology { return t.Subs[n.sub] }

// String is Describe.
func (t *Topology) String() string { return t.Describe() }

// Describe prints the topology as Kafka Streams' TopologyDescription does:
// every sub-topology with its sources, processors (and their stores) and
// sinks, and each node's successors and predecessors; then the internal
// topics the runtime creates.
func (t *Topology) Describe() string {
	var b strings.Builder
	b.WriteString("Topologies:\n")
	for _, s := range t.Subs {
		fmt.Fprintf(&b, "   Sub-topology: %d\n", s.ID)
		for _, n := range s.Nodes {
			switch n.Kind {
			case KindSource:
				fmt.Fprintf(&b, "    Source: %s (topics: [%s])\n", n.Name, strings.Join(n.Topics, ", "))
			case KindSink:
				fmt.Fprintf(&b, "    Sink: %s (topic: %s)\n", n.Name, n.Topic)
			default:
				fmt.Fprintf(&b, "    Processor: %s (stores: [%s])\n", n.Name, strings.Join(n.Stores, ", "))
			}
			if len(n.children) > 0 {
				fmt.Fprintf(&b, "      --> %s\n", strings.Join(names(n.children), ", "))
			}
			if len(n.Parents) > 0 {
				fmt.Fprintf(&b, "      <-- %s\n", strings.Join(names(n.Parents), ", "))
			}
		}
		b.WriteString("\n")
	}
	rep, logs := t.InternalTopics()
	if len(rep)+len(logs) > 0 {
		b.WriteString("Internal topics (prefixed with \"<application id>-\"):\n")
		for _, r := range rep {
			fmt.Fprintf(&b, "    repartition: %s\n", r)
		}
		for _, c := range logs {
			fmt.Fprintf(&b, "    changelog: %s\n", c)
		}
	}
	return b.String()
}

// Mermaid returns the topology as a Mermaid flowchart: one subgraph per
// sub-topology, topics as rounded nodes, stores as cylinders.
func (t *Topology) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	id := func(s string) string { return strings.NewReplacer("-", "_", ".", "_").Replace(s) }
	for _, s := range t.Subs {
		fmt.Fprintf(&b, "  subgraph sub%d[\"Sub-topology %d\"]\n", s.ID, s.ID)
		for _, n := range s.Nodes {
			fmt.Fprintf(&b, "    %s[\"%s\"]\n", id(n.Name), n.Name)
		}
		b.WriteString("  end\n")
		for _, n := range s.Nodes {
			for _, topic := range n.Topics {
				fmt.Fprintf(&b, "  t_%s([\"%s\"]) --> %s\n", id(topic), topic, id(n.Name))
			}
			for _, c := range n.children {
				fmt.Fprintf(&b, "  %s --> %s\n", id(n.Name), id(c.Name))
			}
			for _, st := range n.Stores {
				fmt.Fprintf(&b, "  %s --- s_%s[(\"%s\")]\n", id(n.Name), id(st), st)
			}
			if n.Kind == KindSink {
				fmt.Fprintf(&b, "  %s --> t_%s([\"%s\"])\n", id(n.Name), id(n.Topic), n.Topic)
			}
		}
	}
	return b.String()
}

// InternalTopics returns the names (without the application id) of the
// repartition and changelog topics the runtime must create.
func (t *Topology) InternalTopics() (repartition, changelogs []string) {
	for _, n := range t.nodes {
		if n.Kind == KindSource && n.Internal {
			repartition = append(repartition, n.Topics...)
		}
	}
	for _, s := range t.Stores {
		if s.Logged {
			changelogs = append(changelogs, s.ChangelogTopic())
		}
	}
	sort.Strings(repartition)
	sort.Strings(changelogs)
	return repartition, changelogs
}

func names(ns []*Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}
