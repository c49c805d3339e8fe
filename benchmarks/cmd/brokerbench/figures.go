package main

import (
	"context"
	"errors"
	"fmt"
	rpt "github.com/runnel-io/runnel/benchmarks/internal/report"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/runnel-io/runnel/benchmarks/internal/host"
)

var runStart = time.Now()

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "brokerbench: [%6.1fs] %s\n", time.Since(runStart).Seconds(), fmt.Sprintf(format, args...))
}

// driver is how the benchmark talks to one kind of broker. Every call
// gets the broker's current addresses, since a cold figure restarts it.
type driver interface {
	createTopic(ctx context.Context, addrs []string, topic string, partitions int32) error
	deleteTopic(ctx context.Context, addrs []string, topic string) error
	// produce sends n records (values of size bytes) from producers
	// clients and returns how many of them were timed, and the time.
	produce(ctx context.Context, addrs []string, topic string, n int64, size, producers int) (int64, time.Duration, error)
	// consume reads the topic from its start until it has n records.
	consume(ctx context.Context, addrs []string, topic string, n int64) (time.Duration, int64, error)
	latency(ctx context.Context, addrs []string, topic string, s schedule) (latencyResult, error)
}

// target is one broker under test: its child process, its driver, and
// what its topics hold.
type target struct {
	name     string
	dir      string
	drv      driver
	proc     *brokerProc
	records  map[string]int64
	carry    int64         // peak RSS of this phase's earlier incarnations
	restarts int           // restarts in this phase (profile file names)
	cpuStart time.Duration // the process's CPU time when the phase (or it) started
	cpuCarry time.Duration // CPU time of this phase's earlier incarnations
	moved    int64         // value bytes produced or consumed in this phase
	client   time.Duration // CPU time of this process while driving this broker in this phase
}

// bench is one run: the brokers, the report being built, the phase.
type bench struct {
	p       params
	root    string
	rep     *report
	targets []*target
	cold    bool
	phase   string
	mem     []memRow
	cpu     []cpuRow
	loop    *tput
	// The machine's CPU time and this process's when the phase began:
	// what is neither the brokers' nor this process's is other load.
	busyStart, selfStart time.Duration
	wallStart            time.Time
}

// cpuRow is the CPU time each broker used during one phase, and the value
// bytes it moved.
type cpuRow struct {
	label  string
	cpu    map[string]time.Duration
	client map[string]time.Duration
	moved  map[string]int64
	other  time.Duration // CPU used by processes outside this benchmark
	wall   time.Duration
}

// memRow is the peak resident memory of each broker during one phase.
type memRow struct {
	label string
	rss   map[string]int64
}

// figures runs every figure in order and returns the report.
func figures(root string, p params) (*report, error) {
	b := &bench{p: p, root: root, rep: &report{}, cold: p.cold}
	defer b.stopAll()
	if b.cold {
		if err := dropCaches(); errors.Is(err, host.ErrNoDrop) {
			b.cold = false
			b.rep.notes = append(b.rep.notes, "Cold figures skipped: "+err.Error()+".")
		} else if err != nil {
			return nil, err
		}
	}
	b.settings()
	if err := b.loopbackFigure(); err != nil {
		return nil, fmt.Errorf("loopback: %w", err)
	}
	if err := b.startAll(); err != nil {
		return nil, err
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"produce", b.produceFigures},
		{"consume", b.consumeFigures},
		{"latency", b.latencyFigures},
		{"big topic", b.bigFigures},
	}
	for _, s := range steps {
		if b.p.skip[strings.Fields(s.name)[0]] {
			continue
		}
		if err := s.fn(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	b.memoryFigure()
	return b.rep, b.stopAll()
}

func (b *bench) settings() {
	js := jetStreamDriver{pending: b.p.jsPending, pullMsgs: b.p.jsPullMsgs}
	b.rep.settings = append(b.rep.settings,
		fmt.Sprintf("topics: %d partitions, replication factor 1, for runnel and kfake; JetStream: one stream per topic (a stream is not partitioned)", b.p.partitions),
		"runnel: `cluster.DefaultConfig()` (Kafka's broker defaults; 1 GiB segments, no fsync policy) listening on 127.0.0.1:0, in a child process",
		kfakeSetting(b.p.kfakeBrokers),
		"JetStream: embedded nats-server "+natsServerVersion()+" (`server.Options{Host: 127.0.0.1, Port: -1, JetStream: true, StoreDir: <dir>}`, everything else default: file store, no fsync per message, sync every 2 min), in a child process",
		"Kafka client (runnel and kfake alike): "+kgoSettings,
		"JetStream client: "+js.settings(),
		"records: values of random bytes, no key, no headers; MB = 10^6 bytes of record values (protocol overhead not counted); rec/s = records (messages) per second",
		fmt.Sprintf("each figure is the median of %d rounds (range in brackets), the brokers taking turns within a round, the order rotating between rounds", b.p.rounds),
		fmt.Sprintf("resident memory: each broker's VmRSS (/proc/PID/status), sampled every %v", rssInterval),
	)
}

func kfakeSetting(n int) string {
	if n == 0 {
		return "kfake: `kfake.NewCluster()` with its defaults (3 brokers in one process, everything in memory), in a child process; partition leaders spread over its 3 brokers, so a client has 3 connections to it"
	}
	return fmt.Sprintf("kfake: `kfake.NewCluster(kfake.NumBrokers(%d))` (NOT its default of 3; everything in memory), in a child process", n)
}

// rotated is ts rotated by r, so that each broker goes first in turn.
func rotated(ts []*target, r int) []*target {
	if len(ts) == 0 {
		return nil
	}
	k := r % len(ts)
	return append(slices.Clone(ts[k:]), ts[:k]...)
}

func (b *bench) find(name string) *target {
	for _, t := range b.targets {
		if t.name == name {
			return t
		}
	}
	return nil
}

// onDisk are the brokers with file storage: the cold and big figures.
func (b *bench) onDisk() []*target {
	var ts []*target
	for _, t := range b.targets {
		if t.name != peerKfake {
			ts = append(ts, t)
		}
	}
	return ts
}

func timeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func (b *bench) startAll() error {
	for _, name := range b.p.peers {
		t := &target{name: name, dir: filepath.Join(b.root, name), records: map[string]int64{}}
		switch name {
		case peerJetStream:
			t.drv = jetStreamDriver{pending: b.p.jsPending, pullMsgs: b.p.jsPullMsgs}
		default:
			t.drv = kafkaDriver{}
		}
		progress("starting %s", name)
		proc, err := startBroker(name, t.dir)
		if err != nil {
			return err
		}
		t.proc = proc
		b.targets = append(b.targets, t)
	}
	row := memRow{label: "idle, just started", rss: map[string]int64{}}
	for _, t := range b.targets {
		row.rss[t.name] = t.proc.rss.now()
	}
	b.mem = append(b.mem, row)
	return nil
}

func (b *bench) stopAll() error {
	var errs []error
	for _, t := range b.targets {
		if t.proc != nil {
			errs = append(errs, t.proc.stop())
			t.proc = nil
		}
	}
	return errors.Join(errs...)
}

// restart stops a broker cleanly and starts it again on the same data.
func (b *bench) restart(t *target) error {
	t.carry = max(t.carry, t.proc.rss.takePeak())
	t.cpuCarry += t.proc.cpu() - t.cpuStart
	if err := t.proc.stop(); err != nil {
		return err
	}
	proc, err := startBroker(t.name, t.dir)
	if err != nil {
		return err
	}
	t.proc = proc
	t.cpuStart = proc.cpu() // recovery is not the phase's work
	t.restarts++
	return b.startProfile(t)
}

// beginPhase starts a new period of peak-RSS sampling and, with
// -profile, a CPU profile of the runnel broker.
func (b *bench) beginPhase(name string) error {
	b.phase = name
	b.busyStart, b.selfStart, b.wallStart = machineBusy(), selfCPU(), time.Now()
	for _, t := range b.targets {
		t.proc.rss.takePeak()
		t.carry, t.restarts = 0, 0
		t.cpuStart, t.cpuCarry, t.moved, t.client = t.proc.cpu(), 0, 0, 0
		if err := b.startProfile(t); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) startProfile(t *target) error {
	if b.p.profileDir == "" || t.name != peerRunnel || b.phase == "" {
		return nil
	}
	name := fmt.Sprintf("%s-%s.pprof", t.name, b.phase)
	if t.restarts > 0 {
		name = fmt.Sprintf("%s-%s-%d.pprof", t.name, b.phase, t.restarts)
	}
	return t.proc.startProfile(filepath.Join(b.p.profileDir, name))
}

// endPhase records the phase's peak RSS of the brokers in it.
func (b *bench) endPhase(label string, in []*target) error {
	row := memRow{label: label, rss: map[string]int64{}}
	crow := cpuRow{label: strings.TrimSuffix(label, " (peak)"), cpu: map[string]time.Duration{}, client: map[string]time.Duration{}, moved: map[string]int64{}}
	crow.wall = time.Since(b.wallStart)
	crow.other = machineBusy() - b.busyStart - (selfCPU() - b.selfStart)
	var err error
	for _, t := range b.targets {
		peak := max(t.carry, t.proc.rss.takePeak())
		used := t.cpuCarry + t.proc.cpu() - t.cpuStart
		crow.other -= used
		if slices.Contains(in, t) {
			row.rss[t.name] = peak
			crow.cpu[t.name] = used
			crow.client[t.name] = t.client
			crow.moved[t.name] = t.moved
		}
		if b.p.profileDir != "" && t.name == peerRunnel {
			err = errors.Join(err, t.proc.stopProfile())
		}
	}
	b.mem = append(b.mem, row)
	b.cpu = append(b.cpu, crow)
	b.phase = ""
	return err
}

// clientCPU adds this process's CPU time since start to t's phase: the
// clients' work for that broker (they run one broker at a time).
func (t *target) clientCPU(start time.Duration) { t.client += selfCPU() - start }

func (b *bench) create(t *target, topic string) error {
	ctx, cancel := timeout(time.Minute)
	defer cancel()
	return t.drv.createTopic(ctx, t.proc.addrs, topic, b.p.partitions)
}

func (b *bench) drop(t *target, topic string) error {
	ctx, cancel := timeout(5 * time.Minute)
	defer cancel()
	delete(t.records, topic)
	return t.drv.deleteTopic(ctx, t.proc.addrs, topic)
}

// produce adds n records of size bytes to topic.
func (b *bench) produce(t *target, topic string, n int64, size int) (sample, error) {
	ctx, cancel := timeout(20 * time.Minute)
	defer cancel()
	defer t.clientCPU(selfCPU())
	timed, d, err := t.drv.produce(ctx, t.proc.addrs, topic, n, size, b.p.producers)
	if err != nil {
		return sample{}, fmt.Errorf("%s: produce to %s: %w", t.name, topic, err)
	}
	t.records[topic] += n
	t.moved += n * int64(size)
	return sample{records: timed, bytes: timed * int64(size), d: d}, nil
}

// consume reads all of topic from its start.
func (b *bench) consume(t *target, topic string) (sample, error) {
	ctx, cancel := timeout(20 * time.Minute)
	defer cancel()
	n := t.records[topic]
	defer t.clientCPU(selfCPU())
	d, bytes, err := t.drv.consume(ctx, t.proc.addrs, topic, n)
	if err != nil {
		return sample{}, fmt.Errorf("%s: consume %s: %w", t.name, topic, err)
	}
	t.moved += bytes
	return sample{records: n, bytes: bytes, d: d}, nil
}

func (b *bench) loopbackFigure() error {
	b.loop = &tput{}
	for r := range b.p.rounds {
		progress("loopback TCP: %s, round %d", rpt.Bytes(b.p.loopback), r+1)
		d, err := loopbackTCP(b.p.loopback)
		if err != nil {
			return err
		}
		b.loop.add(sample{bytes: b.p.loopback, d: d})
	}
	s := b.rep.section("Loopback TCP (the ceiling for any broker here)", "figure", "result")
	s.row(fmt.Sprintf("one Go TCP connection on 127.0.0.1, %s per round in 1 MiB writes and 1 MiB reads, sender and receiver in one process", rpt.Bytes(b.p.loopback)), b.loop.mbCell())
	return nil
}

// throughputRow adds a row comparing runnel with both peers and, when
// min > 0, its target: runnel ≥ min × each peer present.
func (b *bench) throughputRow(s *section, figure string, res map[string]*tput, min float64) {
	r, k, j := res[peerRunnel], res[peerKfake], res[peerJetStream]
	cells := []string{figure, r.cell(), k.cell(), j.cell()}
	met := r.ok() && (k.ok() || j.ok())
	var results []string
	for _, peer := range []*tput{k, j} {
		if !r.ok() || !peer.ok() {
			cells = append(cells, "—")
			continue
		}
		q := r.mbps() / peer.mbps()
		cells = append(cells, fmt.Sprintf("%.2f", q))
		results = append(results, fmt.Sprintf("%.2f×", q))
		met = met && q >= min
	}
	if min <= 0 || !r.ok() {
		s.row(append(cells, "—", "—")...)
		return
	}
	tgt := fmt.Sprintf("≥ %.1f× each", min)
	s.row(append(cells, tgt, yesNo(met))...)
	b.rep.target(figure, tgt+" (kfake, JetStream)", fmt.Sprintf("%s: %s", fmtMBps(r.mbps()), joinOr(results, "—")), met)
}

func joinOr(s []string, empty string) string {
	if len(s) == 0 {
		return empty
	}
	out := s[0]
	for _, x := range s[1:] {
		out += ", " + x
	}
	return out
}

var peerHeader = []string{"figure", "runnel", "kfake", "JetStream", "runnel / kfake", "runnel / JetStream", "target", "met?"}

func (b *bench) produceFigures() error {
	s := b.rep.section("Produce", peerHeader...)
	for _, size := range []int{100, 1024} {
		n := b.p.produceData[size] / int64(size)
		if err := b.beginPhase(fmt.Sprintf("produce-%d", size)); err != nil {
			return err
		}
		res := map[string]*tput{}
		for r := range b.p.rounds {
			topic := fmt.Sprintf("produce-%d-r%d", size, r)
			for _, t := range rotated(b.targets, r) {
				progress("produce %d B × %d to %s, round %d", size, n, t.name, r+1)
				if err := b.create(t, topic); err != nil {
					return err
				}
				run, err := b.produce(t, topic, n, size)
				if err != nil {
					return err
				}
				if res[t.name] == nil {
					res[t.name] = &tput{}
				}
				res[t.name].add(run)
			}
		}
		if err := b.endPhase(fmt.Sprintf("produce %d-byte records (peak)", size), b.targets); err != nil {
			return err
		}
		for _, t := range b.targets {
			for r := range b.p.rounds {
				if err := b.drop(t, fmt.Sprintf("produce-%d-r%d", size, r)); err != nil {
					return err
				}
			}
		}
		b.throughputRow(s, fmt.Sprintf("produce %d-byte records, %d producers, acks=all, into a new topic (%s of values per round)",
			size, b.p.producers, rpt.Bytes(b.p.produceData[size])), res, 1.5)
	}
	s.note("A producer's first record is sent synchronously before the clock starts (metadata, connections, producer id); the clock stops when the last producer has every acknowledgement (Flush / PublishAsyncComplete).")
	return nil
}

// consumeTopic is the small topic the consume figures read.
const consumeTopic = "consume"

func (b *bench) consumeFigures() error {
	s := b.rep.section(fmt.Sprintf("Consume from the start of a %s topic (1 KiB records, one consumer)", rpt.Bytes(b.p.small)), peerHeader...)
	n := b.p.small / 1024
	if err := b.beginPhase("fill"); err != nil {
		return err
	}
	fill := map[string]*tput{}
	for _, t := range b.targets {
		progress("writing the %s topic to %s", rpt.Bytes(b.p.small), t.name)
		if err := b.create(t, consumeTopic); err != nil {
			return err
		}
		run, err := b.produce(t, consumeTopic, n, 1024)
		if err != nil {
			return err
		}
		fill[t.name] = &tput{runs: []sample{run}}
	}
	if err := b.endPhase(fmt.Sprintf("writing the %s topic (peak)", rpt.Bytes(b.p.small)), b.targets); err != nil {
		return err
	}
	row := memRow{label: fmt.Sprintf("holding the %s topic, idle", rpt.Bytes(b.p.small)), rss: map[string]int64{}}
	for _, t := range b.targets {
		row.rss[t.name] = t.proc.rss.now()
	}
	b.mem = append(b.mem, row)

	warm, err := b.consumeRounds("consume-warm", b.targets, consumeTopic, false)
	if err != nil {
		return err
	}
	if err := b.endPhase(fmt.Sprintf("consume the %s topic, warm (peak)", rpt.Bytes(b.p.small)), b.targets); err != nil {
		return err
	}
	b.throughputRow(s, "consume, warm: data in the page cache (kfake: in memory)", warm, 1.5)
	if err := b.jetStreamDefaultPull(s); err != nil {
		return err
	}
	if b.cold {
		cold, err := b.consumeRounds("consume-cold", b.onDisk(), consumeTopic, true)
		if err != nil {
			return err
		}
		if err := b.endPhase(fmt.Sprintf("consume the %s topic, cold: fresh process (peak)", rpt.Bytes(b.p.small)), b.onDisk()); err != nil {
			return err
		}
		b.throughputRow(s, "consume, cold: broker restarted, then page cache dropped (kfake: cannot be cold)", cold, 0)
		if err := b.coldTargetRow(s, cold[peerRunnel]); err != nil {
			return err
		}
	}
	b.throughputRow(s, fmt.Sprintf("for reference: writing this topic, one pass, %d producers", b.p.producers), fill, 0)
	s.note("The consumer is a new client each round, reading from offset 0 (kfake, runnel) or with DeliverAll (JetStream) until it has every record; the clock starts when the client is created.")
	return nil
}

// jetStreamDefaultPull measures JetStream's warm consume again with
// nats.go's default pull batch, so that the figure above is seen not to
// handicap it.
func (b *bench) jetStreamDefaultPull(s *section) error {
	t := b.find(peerJetStream)
	const defaultPull = 500
	if t == nil || b.p.jsPullMsgs == defaultPull {
		return nil
	}
	drv := jetStreamDriver{pending: b.p.jsPending, pullMsgs: defaultPull}
	res := &tput{}
	for r := range b.p.rounds {
		progress("consume-warm: %s from jetstream with PullMaxMessages %d, round %d", consumeTopic, defaultPull, r+1)
		ctx, cancel := timeout(20 * time.Minute)
		d, bytes, err := drv.consume(ctx, t.proc.addrs, consumeTopic, t.records[consumeTopic])
		cancel()
		if err != nil {
			return err
		}
		res.add(sample{records: t.records[consumeTopic], bytes: bytes, d: d})
	}
	s.row(fmt.Sprintf("for reference: JetStream consume, warm, with nats.go's default PullMaxMessages %d (the row above uses %d)", defaultPull, b.p.jsPullMsgs),
		"—", "—", res.cell(), "—", "—", "—", "—")
	return nil
}

// consumeRounds reads topic from each target, rounds times; cold restarts
// the broker and drops the page cache first.
func (b *bench) consumeRounds(phase string, ts []*target, topic string, cold bool) (map[string]*tput, error) {
	if err := b.beginPhase(phase); err != nil {
		return nil, err
	}
	res := map[string]*tput{}
	for r := range b.p.rounds {
		for _, t := range rotated(ts, r) {
			if cold {
				if err := b.restart(t); err != nil {
					return nil, err
				}
				if err := dropCaches(); err != nil {
					return nil, err
				}
			}
			progress("%s: %s from %s, round %d", phase, topic, t.name, r+1)
			run, err := b.consume(t, topic)
			if err != nil {
				return nil, err
			}
			if res[t.name] == nil {
				res[t.name] = &tput{}
			}
			res[t.name].add(run)
		}
	}
	return res, nil
}

// coldTargetRow compares runnel's cold consume with loopback TCP, and
// gives each disk broker's raw cold read of its topic's files.
func (b *bench) coldTargetRow(s *section, cold *tput) error {
	if cold.ok() {
		q := cold.mbps() / b.loop.mbps()
		s.row("runnel cold consume / loopback TCP", cold.mbCell(), "—", "—", "—", "—",
			fmt.Sprintf("≥ 0.50 of loopback (%s)", fmtMBps(b.loop.mbps())), fmt.Sprintf("%.2f: %s", q, yesNo(q >= 0.5)))
		b.rep.target("consume a cold topic / loopback TCP", "≥ 0.50",
			fmt.Sprintf("%s / %s = %.2f", fmtMBps(cold.mbps()), fmtMBps(b.loop.mbps()), q), q >= 0.5)
	}
	disk := map[string]*tput{}
	for _, t := range b.onDisk() {
		if err := dropCaches(); err != nil {
			return err
		}
		n, d, err := readFiles(topicFiles(t, consumeTopic))
		if err != nil {
			return err
		}
		disk[t.name] = &tput{runs: []sample{{bytes: n, d: d}}}
	}
	s.row("for reference: read(2) of the topic's files, cold, 1 MiB reads (bytes on disk, not values)",
		disk[peerRunnel].mbCell(), "—", disk[peerJetStream].mbCell(), "—", "—", "—", "—")
	return nil
}

func (b *bench) latencyFigures() error {
	s := b.rep.section("End-to-end latency: produce → consumer sees the record (100-byte records, open loop)",
		"figure", "runnel p50 / p99 / p99.9", "kfake p50 / p99 / p99.9", "JetStream p50 / p99 / p99.9",
		"runnel / kfake (p99)", "runnel / JetStream (p99)", "target", "met?")
	for _, rate := range b.p.rates {
		phase := fmt.Sprintf("e2e-%d", rate)
		if err := b.beginPhase(phase); err != nil {
			return err
		}
		res := map[string][]latencyResult{}
		for r := range b.p.rounds {
			topic := fmt.Sprintf("e2e-%d-r%d", rate, r)
			for _, t := range rotated(b.targets, r) {
				progress("latency at %d/s on %s, round %d", rate, t.name, r+1)
				if err := b.create(t, topic); err != nil {
					return err
				}
				ctx, cancel := timeout(b.p.e2eWarm + b.p.e2eTime + 2*time.Minute)
				c0 := selfCPU()
				lr, err := t.drv.latency(ctx, t.proc.addrs, topic, newSchedule(rate, b.p.e2eWarm, b.p.e2eTime))
				t.clientCPU(c0)
				cancel()
				if err != nil {
					return fmt.Errorf("%s at %d/s: %w", t.name, rate, err)
				}
				res[t.name] = append(res[t.name], lr)
				t.moved += int64(len(lr.lat)) * latencyValueBytes
				if err := b.drop(t, topic); err != nil {
					return err
				}
			}
		}
		if err := b.endPhase(fmt.Sprintf("end-to-end latency at %d records/s (peak)", rate), b.targets); err != nil {
			return err
		}
		b.latencyRow(s, rate, res)
	}
	s.note("One producer client and one consumer client per broker, in this process. Record i is scheduled at start + i/rate and carries that time; latency = when the consumer's poll returned it − its scheduled time, so a stall counts against every record scheduled during it. Each round: %v unmeasured warm-up, then %v measured; percentiles pool the rounds (p99 range over rounds in brackets).",
		b.p.e2eWarm, b.p.e2eTime)
	return nil
}

func (b *bench) latencyRow(s *section, rate int, res map[string][]latencyResult) {
	pooled := map[string][]time.Duration{}
	cells := []string{fmt.Sprintf("%d records/s", rate)}
	for _, name := range []string{peerRunnel, peerKfake, peerJetStream} {
		rs := res[name]
		if len(rs) == 0 {
			cells = append(cells, "—")
			continue
		}
		var all, late []time.Duration
		var p99s []time.Duration
		dups := 0
		for _, r := range rs {
			all = append(all, r.lat...)
			late = append(late, r.lateness...)
			p99s = append(p99s, rpt.Percentile(r.lat, 99))
			dups += r.dups
		}
		slices.Sort(all)
		slices.Sort(late)
		slices.Sort(p99s)
		pooled[name] = all
		c := fmt.Sprintf("%s / %s / %s", rpt.Dur(rpt.Percentile(all, 50)), rpt.Dur(rpt.Percentile(all, 99)), rpt.Dur(rpt.Percentile(all, 99.9)))
		if len(p99s) > 1 {
			c += fmt.Sprintf(" (p99 %s–%s)", rpt.Dur(p99s[0]), rpt.Dur(p99s[len(p99s)-1]))
		}
		cells = append(cells, c)
		s.note("%s at %d/s: %d records measured, max %s; sender lateness (send − scheduled) p50 %s, p99 %s, max %s; %d duplicates seen",
			name, rate, len(all), rpt.Dur(all[len(all)-1]), rpt.Dur(rpt.Percentile(late, 50)), rpt.Dur(rpt.Percentile(late, 99)), rpt.Dur(late[len(late)-1]), dups)
	}
	rp99 := rpt.Percentile(pooled[peerRunnel], 99)
	for _, name := range []string{peerKfake, peerJetStream} {
		if len(pooled[peerRunnel]) == 0 || len(pooled[name]) == 0 {
			cells = append(cells, "—")
			continue
		}
		cells = append(cells, fmt.Sprintf("%.2f", float64(rp99)/float64(rpt.Percentile(pooled[name], 99))))
	}
	if rate != 5000 || len(pooled[peerRunnel]) == 0 {
		s.row(append(cells, "—", "—")...)
		return
	}
	met := rp99 <= 5*time.Millisecond
	s.row(append(cells, "runnel p99 ≤ 5 ms", yesNo(met))...)
	b.rep.target("end-to-end p99 at 5,000 records/s", "≤ 5 ms", rpt.Dur(rp99), met)
}

func (b *bench) memoryFigure() {
	s := b.rep.section("Broker resident memory (VmRSS; peak during each phase unless marked idle)",
		"phase", "runnel", "kfake", "JetStream", "runnel / kfake", "runnel / JetStream")
	for _, m := range b.mem {
		cells := []string{m.label}
		for _, name := range []string{peerRunnel, peerKfake, peerJetStream} {
			if v, ok := m.rss[name]; ok {
				cells = append(cells, rpt.Bytes(v))
			} else {
				cells = append(cells, "—")
			}
		}
		for _, name := range []string{peerKfake, peerJetStream} {
			cells = append(cells, ratio(float64(m.rss[peerRunnel]), float64(m.rss[name])))
		}
		s.row(cells...)
	}
	s = b.rep.section("CPU time (user + system, all threads): each broker's, and its clients' (this process, while driving that broker); per GB of record values produced or consumed in the phase",
		"phase", "runnel", "kfake", "JetStream", "runnel / kfake", "runnel / JetStream", "other processes on the machine")
	for _, c := range b.cpu {
		cells := []string{c.label}
		per := map[string]float64{}
		for _, name := range []string{peerRunnel, peerKfake, peerJetStream} {
			d, ok := c.cpu[name]
			if !ok {
				cells = append(cells, "—")
				continue
			}
			cell := fmt.Sprintf("%.2f s", d.Seconds())
			if gb := float64(c.moved[name]) / 1e9; gb > 0 {
				per[name] = d.Seconds() / gb
				cell += fmt.Sprintf(" (%.2f s/GB); clients %.2f s/GB", per[name], c.client[name].Seconds()/gb)
			}
			cells = append(cells, cell)
		}
		for _, name := range []string{peerKfake, peerJetStream} {
			cells = append(cells, ratio(per[peerRunnel], per[name]))
		}
		cells = append(cells, fmt.Sprintf("%.1f s in %.0f s (%.0f%% of the machine)", max(c.other, 0).Seconds(), c.wall.Seconds(),
			100*max(c.other, 0).Seconds()/(c.wall.Seconds()*float64(runtime.NumCPU()))))
		s.row(cells...)
	}
	s.note("\"Other processes\": the machine's busy CPU time (/proc/stat) less this benchmark's and its brokers' — load from outside the run, which makes every figure of that phase noisier. It also counts the kernel's own work (writeback, dropping the page cache) and the brokers' restarts in cold phases.")
	s.note("This machine has %d cores shared by the broker and its clients, so a broker's CPU per GB bounds what is left for the clients. Ratios compare CPU per GB; a cold phase leaves out each restart's recovery.", runtime.NumCPU())
	s = b.rep.sections[len(b.rep.sections)-2]
	s.note("A cold figure restarts the broker, so its peak is that of a fresh process. kfake holds every record in memory; runnel and JetStream hold theirs in the page cache, which VmRSS does not count.")
}

// topicFiles lists the files a broker keeps a topic in.
func topicFiles(t *target, topic string) []string {
	var roots []string
	switch t.name {
	case peerRunnel:
		roots, _ = filepath.Glob(filepath.Join(t.dir, topic+"-*"))
	case peerJetStream:
		roots, _ = filepath.Glob(filepath.Join(t.dir, "jetstream", "*", "streams", topic))
	}
	var files []string
	for _, r := range roots {
		filepath.WalkDir(r, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
	}
	return files
}

// readFiles reads files one after the other in 1 MiB reads.
func readFiles(files []string) (int64, time.Duration, error) {
	buf := make([]byte, 1<<20)
	var n int64
	start := time.Now()
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return 0, 0, err
		}
		for {
			k, err := f.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		f.Close()
	}
	return n, time.Since(start), nil
}
