package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sampleUsers are the users the generator writes to the users table;
// it also clicks as "u99", who is not in the table (region "unknown").
var sampleUsers = map[string]User{
	"u01": {"Ada", "eu"}, "u02": {"Bao", "apac"}, "u03": {"Cleo", "us"}, "u04": {"Dev", "apac"},
	"u05": {"Eva", "eu"}, "u06": {"Finn", "eu"}, "u07": {"Gus", "us"}, "u08": {"Hana", "apac"},
	"u09": {"Ivo", "eu"}, "u10": {"Jun", "us"}, "u11": {"Kai", "us"}, "u12": {"Lea", "eu"},
}

// samplePages, the first ones more popular.
var samplePages = []string{"/", "/pricing", "/docs", "/blog", "/signup", "/careers"}

// generator writes the users table, then clicks at a steady rate, stamped
// with the time of writing; one click in 20 is stamped 1-8 s earlier (out
// of order, within grace) and one in 100 is 30 s old (late: dropped).
type generator struct {
	rate     float64
	rnd      *rand.Rand
	sent     int
	outOrder int
	late     int
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
	for id, u := range sampleUsers {
		if err := g.produce(ctx, cl, UsersTopic, id, u, time.Now()); err != nil {
			return err
		}
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / g.rate))
	defer tick.Stop()
	report := time.NewTicker(15 * time.Second)
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-report.C:
			fmt.Printf("generator: %d clicks sent (%d out of order within grace, %d too late)\n", g.sent, g.outOrder, g.late)
		case now := <-tick.C:
			user, click, ts := g.next(now)
			if err := g.produce(ctx, cl, ClicksTopic, user, click, ts); err != nil {
				return err
			}
			g.sent++
		}
	}
}

// next makes the click to send at now.
func (g *generator) next(now time.Time) (string, Click, time.Time) {
	user := fmt.Sprintf("u%02d", 1+g.rnd.IntN(len(sampleUsers)))
	if g.rnd.IntN(25) == 0 {
		user = "u99"
	}
	// min of two draws: lower indexes (the first pages) come more often.
	page := samplePages[min(g.rnd.IntN(len(samplePages)), g.rnd.IntN(len(samplePages)))]
	switch n := g.rnd.IntN(200); {
	case n == 0:
		g.late++
		now = now.Add(-30 * time.Second)
	case n < 10:
		g.outOrder++
		now = now.Add(-time.Duration(1+g.rnd.IntN(8)) * time.Second)
	}
	return user, Click{Page: page}, now
}

func (g *generator) produce(ctx context.Context, cl *kgo.Client, topic, key string, v any, ts time.Time) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: b, Timestamp: ts}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("generator: produce to %s: %w", topic, err)
	}
	return nil
}
