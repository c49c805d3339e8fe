package launch

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

func TestTaskEventRoundTrip(t *testing.T) {
	e := stream.TaskEvent{Kind: stream.TasksRevoked, Tasks: []stream.TaskID{{Sub: 0, Partition: 3}, {Sub: 1, Partition: 12}}}
	line := FormatTaskEvent(e)
	kind, tasks, ok := ParseTaskEvent(line)
	if !ok || kind != "revoked" || !slices.Equal(tasks, []string{"0_3", "1_12"}) {
		t.Errorf("%q parsed as %q %q %v", line, kind, tasks, ok)
	}
	if _, _, ok := ParseTaskEvent(`time=x level=INFO msg="stream: tasks assigned"`); ok {
		t.Error("a log line parsed as a task event")
	}
}

// TestRunEmbedded runs a topology with --embedded: the sides start once
// the instance is ready, with the embedded broker's address; the
// instance stops cleanly when ctx is done, and a side's error stops it
// and is returned.
func TestRunEmbedded(t *testing.T) {
	run := func(side func(stop context.CancelFunc) Side) error {
		t.Helper()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		f := Register(fs, "launch-test", 1)
		if err := fs.Parse([]string{"--embedded", t.TempDir(), "--commit-interval", "100ms"}); err != nil {
			t.Fatal(err)
		}
		b := stream.NewBuilder()
		stream.From(b, "in", serde.String, serde.String).To("out")
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		err = Run(ctx, topo, f, logger, io.Discard, func(sctx context.Context, brokers []string) error {
			if len(brokers) != 1 {
				t.Errorf("side got brokers %v, want the embedded broker", brokers)
			} else if _, _, err := net.SplitHostPort(brokers[0]); err != nil {
				t.Errorf("embedded broker address %q: %v", brokers[0], err)
			}
			return side(cancel)(sctx, brokers)
		})
		if ctx.Err() == context.DeadlineExceeded {
			t.Fatal("Run did not stop")
		}
		return err
	}
	err := run(func(stop context.CancelFunc) Side {
		return func(context.Context, []string) error { stop(); return nil }
	})
	if err != nil {
		t.Errorf("Run stopped by its context: %v", err)
	}
	boom := errors.New("boom")
	err = run(func(context.CancelFunc) Side {
		return func(context.Context, []string) error { return boom }
	})
	if !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the side's error", err)
	}
}
