// Package launch is what every example's main shares: the command-line
// flags that say where the broker is and how to run the application, and
// Run, which runs a topology with them next to helper goroutines (a data
// generator, a printer of results).
package launch

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/stream"
)

// DefaultBrokers is where an example looks for a broker when neither
// --brokers nor --embedded is given: `runnel broker`'s default listener.
const DefaultBrokers = "127.0.0.1:9092"

// Flags are the flags every example takes.
type Flags struct {
	Brokers        string
	Embedded       string
	Listen         string
	AppID          string
	Threads        int
	CommitInterval time.Duration
	SessionTimeout time.Duration
	Generate       bool
	Rate           float64
	Partitions     int
	Print          bool
	LogLevel       string
}

// Register defines the flags on fs, with appID as the default --app-id
// and rate as the default --rate.
func Register(fs *flag.FlagSet, appID string, rate float64) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Brokers, "brokers", DefaultBrokers, "comma-separated seed brokers (host:port) of a Kafka-protocol cluster")
	fs.StringVar(&f.Embedded, "embedded", "", "start a runnel broker in this process with its data in `DIR` (instead of --brokers)")
	fs.StringVar(&f.Listen, "listen", "127.0.0.1:0", "with --embedded: where the broker listens (port 0: a free one)")
	fs.StringVar(&f.AppID, "app-id", appID, "application id: the consumer group and the prefix of internal topics")
	fs.IntVar(&f.Threads, "threads", 1, "stream threads of this instance")
	fs.DurationVar(&f.CommitInterval, "commit-interval", stream.DefaultCommitInterval, "how often processed offsets are committed")
	fs.DurationVar(&f.SessionTimeout, "session-timeout", 0, "group session timeout: how soon a dead instance's tasks move (0: the client's default, 45s)")
	fs.BoolVar(&f.Generate, "generate", false, "also run a generator that writes sample input at a steady rate")
	fs.Float64Var(&f.Rate, "rate", rate, "records per second the generator writes")
	fs.IntVar(&f.Partitions, "partitions", 4, "with --generate and --brokers: partitions of the input topics, created if missing")
	fs.BoolVar(&f.Print, "print", false, "print results as they arrive on the output topic (implied by --generate)")
	fs.StringVar(&f.LogLevel, "log-level", "warn", "log level: debug, info, warn or error")
	return f
}

// Logger returns the logger the flags ask for, writing text to w.
func (f *Flags) Logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// Options turns the flags into the application's options. Task changes
// are printed on events, one line each: "tasks <kind> <id>,<id>...".
func (f *Flags) Options(logger *slog.Logger, events io.Writer) []stream.AppOption {
	opts := []stream.AppOption{
		stream.AppID(f.AppID), stream.Threads(f.Threads), stream.CommitInterval(f.CommitInterval),
		stream.Logger(logger), stream.OnTaskEvent(func(e stream.TaskEvent) { fmt.Fprintln(events, FormatTaskEvent(e)) }),
	}
	if f.Embedded != "" {
		opts = append(opts, stream.Embedded(f.Embedded), stream.EmbeddedListen(f.Listen))
	} else {
		opts = append(opts, stream.Brokers(strings.Split(f.Brokers, ",")...))
	}
	if f.SessionTimeout > 0 {
		// kgo heartbeats every 3 s by default: a shorter session needs
		// more frequent heartbeats, a few per session.
		opts = append(opts, stream.ClientOptions(
			kgo.SessionTimeout(f.SessionTimeout),
			kgo.HeartbeatInterval(min(3*time.Second, f.SessionTimeout/4)),
		))
	}
	return opts
}

// FormatTaskEvent prints a task event as one parseable line, "tasks
// assigned 0_1,1_1" (see ParseTaskEvent).
func FormatTaskEvent(e stream.TaskEvent) string {
	ids := make([]string, len(e.Tasks))
	for i, id := range e.Tasks {
		ids[i] = id.String()
	}
	return "tasks " + e.Kind.String() + " " + strings.Join(ids, ",")
}

// ParseTaskEvent reads a line printed by FormatTaskEvent: its kind
// ("assigned", "revoked", "lost") and task ids; ok is false for other
// lines.
func ParseTaskEvent(line string) (kind string, tasks []string, ok bool) {
	fields := strings.Fields(line)
	if len(fields) != 3 || fields[0] != "tasks" {
		return "", nil, false
	}
	return fields[1], strings.Split(fields[2], ","), true
}

// Side is a goroutine that runs beside the application once it is ready
// (a generator, a printer), until ctx is done; brokers are the
// application's (the embedded broker's address in embedded mode). A side
// returning nil early is fine; an error stops the instance.
type Side func(ctx context.Context, brokers []string) error

// Run runs topo as one instance as the flags say until ctx is done, and
// the sides once the instance is ready. It returns the first error of
// the instance or of a side.
func Run(ctx context.Context, topo *stream.Topology, f *Flags, logger *slog.Logger, events io.Writer, sides ...Side) error {
	app, err := stream.New(topo, f.Options(logger, events)...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sideErrs := make(chan error, len(sides))
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-app.Ready():
		}
		for _, s := range sides {
			go func() {
				err := s(ctx, app.Brokers())
				if err != nil && ctx.Err() == nil {
					sideErrs <- err
					cancel()
				}
			}()
		}
	}()
	err = app.Run(ctx)
	select {
	case serr := <-sideErrs:
		err = errors.Join(serr, err)
	default:
	}
	return err
}

// Together is a side that runs the given sides concurrently and returns
// the first error.
func Together(sides ...Side) Side {
	return func(ctx context.Context, brokers []string) error {
		errs := make(chan error, len(sides))
		for _, s := range sides {
			go func() { errs <- s(ctx, brokers) }()
		}
		var first error
		for range sides {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

// Example is what an example's main says about itself.
type Example struct {
	AppID    string                           // the default --app-id
	Rate     float64                          // the default --rate
	Inputs   []string                         // the input topics the generator writes
	Topology func() (*stream.Topology, error) // the application
	// Sides returns what the example runs beside the instance with
	// --generate or --print (a generator, a printer), and a sentence
	// saying so, printed once the instance is ready after a line saying
	// where the broker is.
	Sides func(*Flags) (string, []Side)
}

// Main parses the flags and runs the example until SIGINT or SIGTERM:
// the body of every example's main.
func (e Example) Main() {
	fs := flag.NewFlagSet(e.AppID, flag.ExitOnError)
	f := Register(fs, e.AppID, e.Rate)
	_ = fs.Parse(os.Args[1:]) // ExitOnError: Parse exits on bad flags
	if err := e.run(f); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", e.AppID, err)
		os.Exit(1)
	}
}

func (e Example) run(f *Flags) error {
	appID := e.AppID
	logger, err := f.Logger(os.Stderr)
	if err != nil {
		return err
	}
	topo, err := e.Topology()
	if err != nil {
		return err
	}
	var what string
	var extra []Side
	if f.Generate || f.Print {
		what, extra = e.Sides(f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.Generate && f.Embedded == "" {
		// The application checks at start that its sources exist (in
		// embedded mode it creates them); the generator writes them later.
		if err := CreateTopics(ctx, strings.Split(f.Brokers, ","), int32(f.Partitions), e.Inputs...); err != nil {
			return err
		}
	}
	start := func(ctx context.Context, brokers []string) error {
		where := "the brokers at " + strings.Join(brokers, ",")
		if f.Embedded != "" {
			where = fmt.Sprintf("an embedded runnel broker listening on %s (data in %s; kcat -b %s -L lists its topics)", brokers[0], f.Embedded, brokers[0])
		}
		fmt.Printf("%s: instance of %q running against %s. Ctrl-C stops it.\n", appID, f.AppID, where)
		if what != "" {
			fmt.Printf("%s: %s\n", appID, what)
		}
		return Together(extra...)(ctx, brokers)
	}
	err = Run(ctx, topo, f, logger, os.Stderr, start)
	fmt.Printf("%s: stopped\n", appID)
	return err
}
