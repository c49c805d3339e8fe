package stream

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream/serde"
)

// formatPlan prints a plan's decisions in a stable order.
func formatPlan(p *topicPlan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tasks %v\n", p.tasks)
	for _, t := range slices.Sorted(maps.Keys(p.internal)) {
		fmt.Fprintf(&b, "repartition %s %d\n", t, p.counts[t])
	}
	for _, t := range slices.Sorted(maps.Keys(p.changelog)) {
		fmt.Fprintf(&b, "changelog %s %d\n", t, p.changelog[t])
		if ms, ok := p.retention[t]; ok {
			fmt.Fprintf(&b, "retention %s %d\n", t, ms)
		}
	}
	return b.String()
}

func TestPlanTopics(t *testing.T) {
	word := func(_, w string) string { return w }
	for _, c := range []struct {
		name     string
		build    func(b *Builder)
		external map[string]int32
		want     string // the plan, or the error's text
	}{{
		name: "a repartition topic takes its writer's partition count",
		build: func(b *Builder) {
			GroupBy(From(b, "lines", serde.String, serde.String), word).Count(Named("counts"))
		},
		external: map[string]int32{"lines": 3},
		want:     "tasks [3 3]\nrepartition counts-repartition 3\nchangelog counts-changelog 3\n",
	}, {
		name: "window and session changelogs keep records a day longer than their stores",
		build: func(b *Builder) {
			g := GroupByKey(From(b, "clicks", serde.String, serde.String))
			g.WindowedBy(Tumbling(time.Minute).Grace(10 * time.Second)).Count(Named("minutes"))
			g.SessionWindowedBy(Sessions(time.Minute)).Count(Named("sessions"))
		},
		external: map[string]int32{"clicks": 2},
		want: "tasks [2]\nchangelog minutes-changelog 2\nretention minutes-changelog 86470000\n" +
			"changelog sessions-changelog 2\nretention sessions-changelog 86520000\n",
	}, {
		name: "Partitions sets it",
		build: func(b *Builder) {
			GroupBy(From(b, "lines", serde.String, serde.String), word).Count(Named("counts"), Partitions(5))
		},
		external: map[string]int32{"lines": 3},
		want:     "tasks [3 5]\nrepartition counts-repartition 5\nchangelog counts-changelog 5\n",
	}, {
		name: "counts flow down a chain of repartitions",
		build: func(b *Builder) {
			r := Repartition(From(b, "lines", serde.String, serde.String), Named("r1"), Partitions(6))
			GroupBy(r, word).Count(Named("c"), WithoutChangelog())
		},
		external: map[string]int32{"lines": 2},
		want:     "tasks [2 6 6]\nrepartition c-repartition 6\nrepartition r1-repartition 6\n",
	}, {
		name: "a co-partition group's repartition topic takes its external topics' count",
		build: func(b *Builder) {
			users := From(b, "users", serde.String, serde.String)
			clicks := Repartition(SelectKey(From(b, "clicks", serde.String, serde.String), word), Named("rk"))
			Merge(users, clicks).To("out")
			b.g.Copartition(users.n, clicks.n)
		},
		external: map[string]int32{"users": 4, "clicks": 2},
		want:     "tasks [4 2]\nrepartition rk-repartition 4\n",
	}, {
		name: "repartition topics co-partitioned together take the largest count",
		build: func(b *Builder) {
			l := Repartition(From(b, "a", serde.String, serde.String), Named("l"))
			r := Repartition(From(b, "b", serde.String, serde.String), Named("r"))
			Merge(l, r).To("out")
			b.g.Copartition(l.n, r.n)
		},
		external: map[string]int32{"a": 2, "b": 5},
		want:     "tasks [2 5 5]\nrepartition l-repartition 5\nrepartition r-repartition 5\n",
	}, {
		name: "Partitions that contradict a co-partition group",
		build: func(b *Builder) {
			users := From(b, "users", serde.String, serde.String)
			clicks := Repartition(From(b, "clicks", serde.String, serde.String), Named("rk"), Partitions(3))
			Merge(users, clicks).To("out")
			b.g.Copartition(users.n, clicks.n)
		},
		external: map[string]int32{"users": 4, "clicks": 2},
		want:     `repartition topic "rk-repartition" is set to 3 partitions, but it is co-partitioned with`,
	}, {
		name: "external co-partitioned topics of different sizes",
		build: func(b *Builder) {
			l, r := From(b, "left", serde.String, serde.String), From(b, "right", serde.String, serde.String)
			Merge(l, r).To("out")
			b.g.Copartition(l.n, r.n)
		},
		external: map[string]int32{"left": 2, "right": 3},
		want:     "co-partitioned topics have different partition counts: left (2 partitions), right (3 partitions)",
	}} {
		t.Run(c.name, func(t *testing.T) {
			b := NewBuilder()
			c.build(b)
			topo, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			p, err := planTopics(topo, c.external)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = formatPlan(p)
			}
			if !strings.Contains(got, c.want) {
				t.Fatalf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}
