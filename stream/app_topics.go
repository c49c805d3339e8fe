package stream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-io/runnel/stream/internal/engine"
)

// topicPlan is what start-up learned and decided about topics, by the
// topology's topic names (internal ones without the application id).
type topicPlan struct {
	counts    map[string]int32 // source and repartition topic → partitions
	internal  map[string]bool  // repartition topics
	tasks     []int32          // sub-topology id → task count
	changelog map[string]int32 // changelog topic → partitions
	retention map[string]int64 // changelog topic → retention.ms (compact,delete)
}

// changelogExtraRetention is how much longer than its store a window or
// session store's changelog keeps records (Kafka Streams'
// windowstore.changelog.additional.retention.ms, 1 day by default).
// Stores expire windows locally, writing no tombstones, so it is this
// retention that removes them from the changelog: a store restored after
// a task moved still holds the windows that closed recently, and records
// processed again after the move do not make them anew.
const changelogExtraRetention = 24 * time.Hour

// planTopics decides the partition counts of internal topics from the
// partition counts of the external source topics (external), and checks
// co-partitioning. It is pure: setupTopics does the I/O around it.
//
//   - a repartition topic has the Partitions its node asks for, else as
//     many as the sub-topology writing it has tasks;
//   - co-partitioned external topics must have equal counts; a
//     co-partition group's repartition topics take the group's count (its
//     external topics', else its largest repartition topic's);
//   - a sub-topology has as many tasks as its largest source topic has
//     partitions; its changelogs have one partition per task.
func planTopics(topo *Topology, external map[string]int32) (*topicPlan, error) {
	p := &topicPlan{counts: map[string]int32{}, internal: map[string]bool{}, changelog: map[string]int32{}, retention: map[string]int64{}}
	explicit := map[string]int32{}
	writers := map[string][]int{} // repartition topic → sub-topologies writing it
	for _, sub := range topo.Subs {
		topics, internal := sub.SourceTopics()
		for _, t := range topics {
			if internal[t] {
				p.internal[t] = true
			} else {
				p.counts[t] = external[t]
			}
		}
		for _, n := range sub.Sinks() {
			if n.Internal {
				writers[n.Topic] = append(writers[n.Topic], sub.ID)
				explicit[n.Topic] = max(explicit[n.Topic], n.Partitions)
			}
		}
	}
	if err := checkCopartitioned(topo, p); err != nil {
		return nil, err
	}
	// Each pass can only raise counts, and a count is a partition count of
	// some topic, so this settles in at most one pass per internal topic.
	for range len(p.internal) + 1 {
		changed, err := p.resolvePass(topo, explicit, writers)
		if err != nil {
			return nil, err
		}
		if !changed {
			break
		}
	}
	for t := range p.internal {
		if p.counts[t] == 0 {
			return nil, fmt.Errorf("stream: cannot tell how many partitions repartition topic %q needs (no sub-topology with sources writes it)", t)
		}
	}
	for _, sub := range topo.Subs {
		p.tasks = append(p.tasks, p.maxSource(sub))
		for _, def := range sub.Stores {
			if def.Logged {
				p.changelog[def.ChangelogTopic()] = p.maxSource(sub)
				if def.Retention > 0 {
					p.retention[def.ChangelogTopic()] = (def.Retention + changelogExtraRetention).Milliseconds()
				}
			}
		}
	}
	return p, nil
}

// resolvePass sets every repartition topic it can from its writers'
// sources, then applies the co-partition groups.
func (p *topicPlan) resolvePass(topo *Topology, explicit map[string]int32, writers map[string][]int) (bool, error) {
	changed := false
	set := func(t string, n int32) {
		if n > p.counts[t] {
			p.counts[t], changed = n, true
		}
	}
	for t := range p.internal {
		if explicit[t] > 0 {
			set(t, explicit[t])
			continue
		}
		for _, w := range writers[t] {
			set(t, p.maxSource(topo.Subs[w]))
		}
	}
	for _, group := range topo.Copartitioned {
		var ext, rep int32
		for _, t := range group {
			if p.internal[t] {
				rep = max(rep, p.counts[t])
			} else {
				ext = max(ext, p.counts[t])
			}
		}
		want := cmpOr(ext, rep)
		for _, t := range group {
			if !p.internal[t] || want == 0 {
				continue
			}
			if explicit[t] > 0 && explicit[t] != want {
				return false, fmt.Errorf("stream: repartition topic %q is set to %d partitions, but it is co-partitioned with %s (%d)", t, explicit[t], strings.Join(group, ", "), want)
			}
			set(t, want)
		}
	}
	return changed, nil
}

func cmpOr(a, b int32) int32 {
	if a != 0 {
		return a
	}
	return b
}

// maxSource is the largest partition count of a sub-topology's sources
// known so far (0 if none is).
func (p *topicPlan) maxSource(sub *engine.Subtopology) int32 {
	var n int32
	for t := range sub.Sources {
		n = max(n, p.counts[t])
	}
	return n
}

// checkCopartitioned checks that the external topics of every
// co-partition group have the same partition count.
func checkCopartitioned(topo *Topology, p *topicPlan) error {
	var errs []error
	for _, group := range topo.Copartitioned {
		var desc []string
		counts := map[int32]bool{}
		for _, t := range group {
			if !p.internal[t] {
				desc = append(desc, fmt.Sprintf("%s (%d partitions)", t, p.counts[t]))
				counts[p.counts[t]] = true
			}
		}
		if len(counts) > 1 {
			errs = append(errs, fmt.Errorf("stream: co-partitioned topics have different partition counts: %s; give them the same count, or repartition one", strings.Join(desc, ", ")))
		}
	}
	return errors.Join(errs...)
}

// setupTopics describes the source topics, plans the internal topics and
// creates those missing. An internal topic that exists with another
// partition count is an error: the application's state would not match.
//
// createSources > 0 creates missing source topics with that many
// partitions (embedded mode, where nobody else could have made them);
// otherwise a missing source topic is an error naming it.
func setupTopics(ctx context.Context, adm *kadm.Client, topo *Topology, topic func(string, bool) string, createSources int32) (*topicPlan, error) {
	var external []string
	for _, sub := range topo.Subs {
		topics, internal := sub.SourceTopics()
		for _, t := range topics {
			if !internal[t] {
				external = append(external, t)
			}
		}
	}
	counts, err := describeSources(ctx, adm, external, createSources)
	if err != nil {
		return nil, err
	}
	p, err := planTopics(topo, counts)
	if err != nil {
		return nil, err
	}
	want := map[string]int32{} // full name → partitions
	configs := map[string]map[string]*string{}
	for t := range p.internal {
		want[topic(t, true)] = p.counts[t]
	}
	for t, n := range p.changelog {
		full := topic(t, true)
		want[full] = n
		configs[full] = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		if ms, ok := p.retention[t]; ok {
			configs[full]["cleanup.policy"] = kadm.StringPtr("compact,delete")
			configs[full]["retention.ms"] = kadm.StringPtr(strconv.FormatInt(ms, 10))
		}
	}
	return p, createInternal(ctx, adm, want, configs)
}

// describeSources returns the partition count of every source topic. It
// creates those that do not exist with createMissing partitions, or (if
// createMissing is 0) returns an error naming them.
func describeSources(ctx context.Context, adm *kadm.Client, topics []string, createMissing int32) (map[string]int32, error) {
	slices.Sort(topics)
	topics = slices.Compact(topics)
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("stream: describe source topics: %w", err)
	}
	counts := map[string]int32{}
	var missing []string
	for _, t := range topics {
		d, ok := details[t]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, t)
		case d.Err != nil:
			return nil, fmt.Errorf("stream: describe source topic %q: %w", t, d.Err)
		default:
			counts[t] = int32(len(d.Partitions))
		}
	}
	if len(missing) > 0 && createMissing == 0 {
		return nil, fmt.Errorf("stream: source topic %s does not exist: create it before starting the application", quoteAll(missing))
	}
	for _, t := range missing {
		if _, err := adm.CreateTopic(ctx, createMissing, -1, nil, t); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return nil, fmt.Errorf("stream: create source topic %q: %w", t, err)
		}
		counts[t] = createMissing
	}
	return counts, nil
}

// createInternal creates the internal topics that do not exist and checks
// the partition count of those that do.
func createInternal(ctx context.Context, adm *kadm.Client, want map[string]int32, configs map[string]map[string]*string) error {
	if len(want) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(want))
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("stream: describe internal topics: %w", err)
	}
	for _, t := range names {
		if d, ok := details[t]; ok && d.Err == nil {
			if got := int32(len(d.Partitions)); got != want[t] {
				return fmt.Errorf("stream: internal topic %q has %d partitions, the topology needs %d: delete it (resetting the application's state) or change the topology", t, got, want[t])
			}
			continue
		}
		resp, err := adm.CreateTopic(ctx, want[t], -1, configs[t], t)
		switch {
		case errors.Is(err, kerr.TopicAlreadyExists):
			// Another instance created it meanwhile; it used the same plan.
		case err != nil:
			return fmt.Errorf("stream: create internal topic %q: %w %s", t, err, resp.ErrMessage)
		}
	}
	return nil
}

func quoteAll(ts []string) string {
	q := make([]string, len(ts))
	for i, t := range ts {
		q[i] = strconv.Quote(t)
	}
	return strings.Join(q, ", ")
}
