package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/runnel-io/runnel/state"
)

// probe starts one task of every sub-topology on empty in-memory stores
// and closes it again, so that what processors check in Init — above all
// that every store they open is connected to them — fails the build, not
// the first task of a running application. Nothing is processed and
// nothing is written.
func probe(t *Topology) error {
	var errs []error
	for _, sub := range t.Subs {
		task, err := NewTask(t, TaskID{Sub: sub.ID}, probeEnv{})
		if err != nil {
			errs = append(errs, fmt.Errorf("%w (found by Build's trial start of sub-topology %d)", err, sub.ID))
			continue
		}
		task.Close()
	}
	return errors.Join(errs...)
}

// probeEnv is the environment of a trial task: stores are empty and
// unlogged, and a record sent anywhere is an error (Init must not send).
type probeEnv struct{}

var probeMetrics Metrics

func (probeEnv) Send(topic string, _, _ []byte, _ int64, _ []Header) error {
	return fmt.Errorf("stream: a processor wrote to %q from Init", topic)
}
func (probeEnv) Topic(name string, _ bool) string { return name }
func (probeEnv) OpenStore(*StoreDef, TaskID) (state.KeyValue, error) {
	return state.NewMemory(), nil
}
func (probeEnv) BadRecord(TaskID, Origin, []byte, []byte, error) error { return nil }
func (probeEnv) Logger() *slog.Logger                                  { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (probeEnv) Metrics() *Metrics                                     { return &probeMetrics }
func (probeEnv) Now() time.Time                                        { return time.Now() }
