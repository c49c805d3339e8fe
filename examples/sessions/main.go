// Command sessions counts each user's clicks per session (a session ends
// after 30 s without a click): see README.md.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/examples/internal/launch"
	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

func main() {
	launch.Example{AppID: "sessions", Rate: 2, Inputs: []string{ClicksTopic}, Topology: Topology, Sides: sides}.Main()
}

func sides(f *launch.Flags) (string, []launch.Side) {
	printer := launch.Tail(OutputTopic, OutputKeySerde, serde.Int64, formatSession)
	if !f.Generate {
		return fmt.Sprintf("printing the sessions written to %q.", OutputTopic), []launch.Side{printer}
	}
	g := &generator{rate: f.Rate, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))}
	return fmt.Sprintf("%d users click at %.0f clicks/s in all into %q, each in bursts of 10-40 s with pauses of 35-90 s; "+
		"their sessions (%v of inactivity ends one) are printed from %q as they grow.",
		numUsers, f.Rate, ClicksTopic, InactivityGap, OutputTopic), []launch.Side{g.run, printer}
}

// formatSession prints a session update as
// "u03  session 10:00:01-10:00:40   39s  clicks: 7". The tombstones of a
// session's previous bounds are not printed: the update that follows
// says the same.
func formatSession(r *kgo.Record, w stream.Windowed[string], n int64) string {
	if r.Value == nil {
		return "" // a tombstone
	}
	return fmt.Sprintf("%s  session %s-%s %5v  clicks: %d", w.Key, w.Window.Start.Local().Format("15:04:05"),
		w.Window.End.Local().Format("15:04:05"), w.Window.End.Sub(w.Window.Start).Round(time.Second), n)
}

const numUsers = 10

// generator writes clicks at a steady rate from the users that are in a
// burst of activity; each user alternates bursts of 10-40 s and pauses
// of 35-90 s (longer than the gap: a pause ends a session).
type generator struct {
	rate  float64
	rnd   *rand.Rand
	until [numUsers]time.Time // when the user's current burst or pause ends
	busy  [numUsers]bool      // in a burst
}

func (g *generator) run(ctx context.Context, brokers []string) error {
	if g.rate <= 0 {
		return fmt.Errorf("generator: --rate %v must be positive", g.rate)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	defer cl.Close()
	now := time.Now()
	for u := range numUsers {
		g.busy[u] = g.rnd.IntN(2) == 0
		g.until[u] = now.Add(time.Duration(g.rnd.IntN(40)) * time.Second)
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / g.rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			u, ok := g.next(now)
			if !ok {
				continue
			}
			b, _ := json.Marshal(Click{Page: "/"})
			r := &kgo.Record{Topic: ClicksTopic, Key: fmt.Appendf(nil, "u%02d", u), Value: b, Timestamp: now}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil && ctx.Err() == nil {
				return fmt.Errorf("generator: produce to %s: %w", ClicksTopic, err)
			}
		}
	}
}

// next moves the users' bursts and pauses on to now and picks a user in
// a burst to click, if any is.
func (g *generator) next(now time.Time) (int, bool) {
	var busy []int
	for u := range numUsers {
		if now.After(g.until[u]) {
			g.busy[u] = !g.busy[u]
			d := 10 + g.rnd.IntN(31)
			if !g.busy[u] {
				d = 35 + g.rnd.IntN(56)
			}
			g.until[u] = now.Add(time.Duration(d) * time.Second)
		}
		if g.busy[u] {
			busy = append(busy, u)
		}
	}
	if len(busy) == 0 {
		return 0, false
	}
	return busy[g.rnd.IntN(len(busy))], true
}
