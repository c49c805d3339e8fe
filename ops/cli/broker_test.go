package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/cluster"
	rlog "github.com/runnel-io/runnel/log"
)

func TestBrokerHelpDocumentsEveryFlag(t *testing.T) {
	out, _, err := run(t, "broker", "--help")
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := newBrokerCommandEnv(func() []string { return nil })
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if strings.TrimSpace(f.Usage) == "" {
			t.Errorf("--%s has no usage text", f.Name)
		}
		if !strings.Contains(out, "--"+f.Name) {
			t.Errorf("help does not show --%s", f.Name)
		}
	})
	for _, want := range []string{"RUNNEL_LOG_RETENTION_BYTES", "RUNNEL_CONFIG", "server.properties",
		"SIGTERM", "runnel broker ready", "(default 1GiB)", `(default "127.0.0.1:9092")`} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not mention %q", want)
		}
	}
	root, _, err := run(t, "--help")
	if err != nil || !strings.Contains(root, "broker") {
		t.Errorf("root help does not list broker: %v\n%s", err, root)
	}
}

// resolveBroker parses args as the broker command would, with environ as
// the environment, and returns the broker config they make.
func resolveBroker(t *testing.T, environ []string, args ...string) (cluster.Config, *brokerSettings, error) {
	t.Helper()
	cmd, s := newBrokerCommandEnv(func() []string { return environ })
	if err := cmd.ParseFlags(args); err != nil {
		return cluster.Config{}, s, err
	}
	if _, err := s.resolve(cmd.Flags(), environ); err != nil {
		return cluster.Config{}, s, err
	}
	cfg, err := s.clusterConfig(nil)
	return cfg, s, err
}

func TestBrokerDefaultsAreCluster(t *testing.T) {
	cfg, s, err := resolveBroker(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := cluster.DefaultConfig()
	abs, _ := filepath.Abs(want.DataDir)
	want.DataDir = abs
	if cfg.Listen != want.Listen || cfg.DataDir != want.DataDir || cfg.NodeID != want.NodeID ||
		cfg.AutoCreateTopics != want.AutoCreateTopics || cfg.NumPartitions != want.NumPartitions ||
		cfg.DefaultReplicationFactor != want.DefaultReplicationFactor || cfg.MessageMaxBytes != want.MessageMaxBytes ||
		cfg.SocketRequestMaxBytes != want.SocketRequestMaxBytes || cfg.LogDefaults != want.LogDefaults ||
		cfg.GroupInitialRebalanceDelay != want.GroupInitialRebalanceDelay || cfg.GroupMinSessionTimeout != want.GroupMinSessionTimeout ||
		cfg.GroupMaxSessionTimeout != want.GroupMaxSessionTimeout || cfg.GroupMaxSize != want.GroupMaxSize ||
		cfg.OffsetsTopicNumPartitions != want.OffsetsTopicNumPartitions || cfg.OffsetsRetention != want.OffsetsRetention ||
		cfg.OffsetMetadataMaxBytes != want.OffsetMetadataMaxBytes {
		t.Fatalf("defaults differ from cluster.DefaultConfig:\n got %+v\nwant %+v", cfg, want)
	}
	if cfg.MessageMaxBytes != 1048588 || cfg.SocketRequestMaxBytes != 100<<20 || cfg.LogDefaults.RetentionTime != 168*time.Hour ||
		cfg.LogDefaults.RetentionBytes != -1 || cfg.LogDefaults.SegmentBytes != 1<<30 || s.logLevel != "info" || s.logFormat != "text" {
		t.Fatalf("not Kafka's defaults: %+v", cfg)
	}
}

func TestBrokerSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.properties")
	props := `# runnel broker settings
listen=127.0.0.1:1111
data-dir=` + filepath.Join(dir, "from-file") + `
num-partitions=3
log-retention=-1
log-retention-bytes=10GiB
log-segment-bytes=64MiB
log-flush-interval=500ms
auto-create-topics=false
`
	if err := os.WriteFile(file, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"RUNNEL_CONFIG=" + file, "RUNNEL_LISTEN=127.0.0.1:2222", "RUNNEL_NUM_PARTITIONS=5",
		"RUNNEL_NODE_ID=7", "RUNNEL_LOG_FLUSH_MESSAGES=1000"}
	cfg, _, err := resolveBroker(t, env, "--listen", "127.0.0.1:3333", "--log-segment-bytes", "1MiB")
	if err != nil {
		t.Fatal(err)
	}
	ld := cfg.LogDefaults
	switch {
	case cfg.Listen != "127.0.0.1:3333": // flag over env over file
		t.Errorf("listen %q", cfg.Listen)
	case cfg.NumPartitions != 5: // env over file
		t.Errorf("num-partitions %d", cfg.NumPartitions)
	case cfg.NodeID != 7 || ld.FlushMessages != 1000: // env over default
		t.Errorf("node-id %d, flush messages %d", cfg.NodeID, ld.FlushMessages)
	case ld.SegmentBytes != 1<<20: // flag over file
		t.Errorf("segment bytes %d", ld.SegmentBytes)
	case cfg.DataDir != filepath.Join(dir, "from-file") || ld.RetentionTime >= 0 || ld.RetentionBytes != 10<<30 ||
		ld.FlushInterval != 500*time.Millisecond || cfg.AutoCreateTopics: // file over default
		t.Errorf("file settings not applied: %+v", cfg)
	case cfg.MessageMaxBytes != rlog.DefaultMaxBatchBytes: // default
		t.Errorf("message max bytes %d", cfg.MessageMaxBytes)
	}
	// --config on the command line beats RUNNEL_CONFIG.
	other := filepath.Join(dir, "other.properties")
	if err := os.WriteFile(other, []byte("num-partitions=9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err = resolveBroker(t, []string{"RUNNEL_CONFIG=" + file}, "--config", other)
	if err != nil || cfg.NumPartitions != 9 || cfg.Listen != "127.0.0.1:9092" {
		t.Fatalf("--config %s: %v, partitions %d listen %q", other, err, cfg.NumPartitions, cfg.Listen)
	}
}

func TestBrokerBadSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(file, []byte("listen=127.0.0.1:0\nlog.retention.hours=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown key", nil, []string{"--config", file}, `server.properties:2: unknown key "log.retention.hours"`},
		{"missing file", []string{"RUNNEL_CONFIG=" + filepath.Join(dir, "nope")}, nil, "nope: no such file"},
		{"bad env", []string{"RUNNEL_MESSAGE_MAX_BYTES=huge"}, nil, `RUNNEL_MESSAGE_MAX_BYTES="huge"`},
		{"bad level", nil, []string{"--log-level", "trace"}, `"trace" is not one of debug, info, warn, error`},
		{"negative flush", nil, []string{"--log-flush-messages", "-1"}, "--log-flush-messages -1 is negative"},
		{"small segment", nil, []string{"--log-segment-bytes", "10"}, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := resolveBroker(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// lineWatcher collects a command's stderr and reports the broker's
// address once the ready line is written.
type lineWatcher struct {
	mu    sync.Mutex
	lines []string
	ready chan string
	done  chan struct{}
}

var readyAddr = regexp.MustCompile(`msg="runnel broker ready" addr=(\S+)`)

func watchLines(r io.Reader) *lineWatcher {
	w := &lineWatcher{ready: make(chan string, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
			if m := readyAddr.FindStringSubmatch(sc.Text()); m != nil {
				w.ready <- m[1]
			}
		}
	}()
	return w
}

func (w *lineWatcher) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// startBrokerCmd runs the broker command in-process until the returned
// stop is called; stop returns the command's error and its stderr.
func startBrokerCmd(t *testing.T, environ []string, args ...string) (addr string, stop func() (error, string)) {
	t.Helper()
	cmd, _ := newBrokerCommandEnv(func() []string { return environ })
	pr, pw := io.Pipe()
	cmd.SetErr(pw)
	cmd.SetOut(io.Discard)
	cmd.SetArgs(args)
	w := watchLines(pr)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		err := cmd.ExecuteContext(ctx)
		pw.Close()
		errc <- err
	}()
	stop = func() (error, string) {
		cancel()
		err := <-errc
		<-w.done
		return err, w.text()
	}
	select {
	case addr = <-w.ready:
		return addr, stop
	case err := <-errc:
		pw.Close()
		<-w.done
		cancel()
		t.Fatalf("broker exited before ready: %v\n%s", err, w.text())
	case <-time.After(30 * time.Second):
		err, logs := stop()
		t.Fatalf("broker not ready after 30s: %v\n%s", err, logs)
	}
	return "", nil
}

func TestBrokerServesAndStops(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--listen", "127.0.0.1:0", "--log-format", "text"}
	addr, stop := startBrokerCmd(t, []string{"RUNNEL_DATA_DIR=" + dir}, args...)
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		t.Fatalf("ready line addr %q: %v", addr, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("cli"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()
	err, logs := stop()
	if err != nil {
		t.Fatalf("broker stop: %v\n%s", err, logs)
	}
	for _, want := range []string{"set_by.data-dir=env", "set_by.listen=flag", `msg="runnel broker stopping"`, `msg="runnel broker stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log does not contain %q:\n%s", want, logs)
		}
	}
	// The same data dir again: the topic is there (the count may include
	// the broker's internal ones), and nothing needed recovery.
	_, stop = startBrokerCmd(t, []string{"RUNNEL_DATA_DIR=" + dir}, args...)
	err, logs = stop()
	if err != nil || !regexp.MustCompile(`broker ready.* topics=[1-9]`).MatchString(logs) || strings.Contains(logs, "truncating") {
		t.Fatalf("restart: %v\n%s", err, logs)
	}
}

func TestBrokerJSONLogs(t *testing.T) {
	cmd, _ := newBrokerCommandEnv(func() []string { return nil })
	pr, pw := io.Pipe()
	cmd.SetErr(pw)
	cmd.SetArgs([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json", "--log-level", "debug"})
	// The broker stops when the ready line is seen, or after 30s.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	ready := false
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			t.Errorf("not a JSON line: %s", sc.Text())
		}
		if strings.Contains(sc.Text(), `"msg":"runnel broker ready"`) {
			ready = true
			if !strings.Contains(sc.Text(), `"addr":"127.0.0.1:`) {
				t.Errorf("ready line %s has no addr", sc.Text())
			}
			cancel()
		}
	}
	if err := <-errc; err != nil || !ready {
		t.Fatalf("broker: %v, ready line seen: %v", err, ready)
	}
}

func TestBrokerListenInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd, _ := newBrokerCommandEnv(func() []string { return nil })
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"--listen", ln.Addr().String(), "--data-dir", t.TempDir()})
	err = cmd.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("error %v, want address already in use", err)
	}
}

// TestBrokerGroupSettings: the group and offsets flags reach the broker's
// config, and RUNNEL_BROKERS (the client commands' variable) is not
// warned about.
func TestBrokerGroupSettings(t *testing.T) {
	cfg, _, err := resolveBroker(t, []string{"RUNNEL_OFFSETS_RETENTION=1h"}, "--group-initial-rebalance-delay", "0s",
		"--group-min-session-timeout", "1s", "--group-max-session-timeout", "1m", "--group-max-size", "7",
		"--offsets-topic-num-partitions", "3", "--offset-metadata-max-bytes", "1KiB")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GroupInitialRebalanceDelay != 0 || cfg.GroupMinSessionTimeout != time.Second || cfg.GroupMaxSessionTimeout != time.Minute ||
		cfg.GroupMaxSize != 7 || cfg.OffsetsTopicNumPartitions != 3 || cfg.OffsetsRetention != time.Hour || cfg.OffsetMetadataMaxBytes != 1024 {
		t.Fatalf("group settings not applied: %+v", cfg)
	}
	var buf bytes.Buffer
	warnUnknownEnv(slog.New(slog.NewTextHandler(&buf, nil)), []string{brokersEnv, "RUNNEL_NO_SUCH"})
	if out := buf.String(); strings.Contains(out, brokersEnv) || !strings.Contains(out, "RUNNEL_NO_SUCH") {
		t.Fatalf("warnings: %s", out)
	}
}
