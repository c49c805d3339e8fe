package engine

import "sort"

// SourcesOf returns the source nodes that feed any of nodes, directly or
// through processors, each once and in the order they were added to the
// graph: the topics a join's inputs read, for Graph.Copartition. A
// repartition topic's source has no parents, so the walk stops there and
// the internal topic, not the topics upstream of it, is what is returned.
func SourcesOf(nodes ...*Node) []*Node {
	seen := map[*Node]bool{}
	var out []*Node
	stack := append([]*Node(nil), nodes...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == nil || seen[n] {
			continue
		}
		seen[n] = true
		if n.Kind == KindSource {
			out = append(out, n)
		}
		stack = append(stack, n.Parents...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out
}
