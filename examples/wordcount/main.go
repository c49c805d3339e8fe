// Command wordcount counts the words of the lines written to a topic:
// see README.md.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/examples/internal/launch"
	"github.com/runnel-io/runnel/stream/serde"
)

func main() {
	launch.Example{AppID: "wordcount", Rate: 1, Inputs: []string{InputTopic}, Topology: Topology, Sides: sides}.Main()
}

func sides(f *launch.Flags) (string, []launch.Side) {
	printer := launch.Tail(OutputTopic, serde.String, serde.Int64, func(_ *kgo.Record, w string, n int64) string {
		return fmt.Sprintf("%-12s %d", w, n)
	})
	if !f.Generate {
		return fmt.Sprintf("printing every new count written to %q.", OutputTopic), []launch.Side{printer}
	}
	return fmt.Sprintf("writing %.0f line(s)/s of sample text to %q and printing every new count written to %q.",
		f.Rate, InputTopic, OutputTopic), []launch.Side{generate(f.Rate), printer}
}

// sampleLines are what the generator writes, in random order.
var sampleLines = []string{
	"The quick brown fox jumps over the lazy dog",
	"A stream is a table in motion, a table is a stream at rest",
	"To be or not to be, that is the question",
	"All that is gold does not glitter",
	"The rain in Spain stays mainly in the plain",
}

// generate writes a random sample line (with a null key) every 1/rate s.
func generate(rate float64) launch.Side {
	return func(ctx context.Context, brokers []string) error {
		if rate <= 0 {
			return fmt.Errorf("generator: --rate %v must be positive", rate)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
		if err != nil {
			return fmt.Errorf("generator: %w", err)
		}
		defer cl.Close()
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				line := sampleLines[rand.IntN(len(sampleLines))]
				r := &kgo.Record{Topic: InputTopic, Value: []byte(line)}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil && ctx.Err() == nil {
					return fmt.Errorf("generator: produce to %s: %w", InputTopic, err)
				}
			}
		}
	}
}
