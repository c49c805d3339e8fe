package main

import (
	"context"
	"fmt"
	rpt "github.com/runnel-io/runnel/benchmarks/internal/report"
	stdlog "log"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The events of a round, in the order they happen.
const (
	evJoin  = "join"
	evLeave = "leave"
	evKill  = "kill"
)

var events = []string{evJoin, evLeave, evKill}

// balancer is one of the assignors compared.
type balancer struct {
	name, short string
	make        func() kgo.GroupBalancer
}

var balancers = []balancer{
	{"eager (range)", "range", func() kgo.GroupBalancer { return kgo.RangeBalancer() }},
	{"cooperative-sticky", "coop", kgo.CooperativeStickyBalancer},
}

// eventResult is what one event of one round measured.
type eventResult struct {
	at         time.Time     // when the event happened
	dur        time.Duration // event → every partition delivering to a live owner again
	fromExpiry time.Duration // kill: from the earliest moment the session could expire
	before     float64       // records/s consumed, mean over the baseline before the event
	during     float64       // the median 100 ms bucket during the event
	lowest     float64       // the lowest one
	after      float64       // mean over p.after once consuming again
	stall      time.Duration // buckets during the event below 10% of before
	gapMedian  time.Duration // the partitions' longest times without a delivery: median
	gapMax     time.Duration // and longest
	behind     float64       // the most records consumption fell behind the rate before the event
	spark      string
}

// roundResult is one round: a side, a balancer, the three events.
type roundResult struct {
	side, balancer string
	round          int
	events         map[string]eventResult
	produced       float64 // acknowledged records/s over the round
	produceFailed  int64
	strays         int
}

// rebalanceResults are every round of the rebalance phase.
type rebalanceResults struct {
	rounds []roundResult
	topic  string
}

// rebalanceFigures runs p.rounds rounds per balancer per side, taking
// turns: within a round of a balancer, the side that goes first swaps
// every time.
func rebalanceFigures(ctx context.Context, p params, sides []*side) (*rebalanceResults, error) {
	res := &rebalanceResults{topic: "groupbench-rebalance"}
	for _, s := range sides {
		if p.measured(s) {
			if err := s.createTopic(ctx, res.topic, p.partitions); err != nil {
				return nil, err
			}
		}
	}
	turn := 0
	for r := range p.rounds {
		for _, b := range balancers {
			for i := range sides {
				s := sides[(i+turn)%len(sides)]
				if !p.measured(s) {
					continue
				}
				rr, err := runRound(ctx, p, s, res.topic, b, r)
				if err != nil {
					return nil, fmt.Errorf("%s, %s, round %d: %w", s.name, b.name, r+1, err)
				}
				if p.verbose {
					logRound(rr)
				}
				res.rounds = append(res.rounds, rr)
			}
			turn++
		}
	}
	return res, nil
}

// runRound starts a producer and a group of p.members on a new group, waits
// for it to be stable, then times a join, a leave and a kill.
func runRound(ctx context.Context, p params, s *side, topic string, b balancer, round int) (rr roundResult, err error) {
	rr = roundResult{side: s.name, balancer: b.name, round: round, events: map[string]eventResult{}}
	tr := newTracker(p.partitions, time.Now())
	pr, err := startProducer(s, topic, p.partitions, p.rate)
	if err != nil {
		return rr, err
	}
	mc := memberConfig{
		side: s, group: fmt.Sprintf("groupbench-%s-%s-%d", s.name, b.short, round), topic: topic,
		balancer: b.make(), session: p.session, heartbeat: p.heartbeat, tracker: tr,
	}
	var ms []*member
	defer func() {
		for _, m := range ms {
			if cerr := m.close(10 * time.Second); cerr != nil && err == nil && !m.killed.Load() {
				err = cerr
			}
		}
		rr.produced, rr.produceFailed = pr.stop()
		rr.strays = tr.strayRecords()
	}()
	for i := range p.members {
		m, err := startMember(mc, i)
		if err != nil {
			return rr, err
		}
		ms = append(ms, m)
	}
	if err := waitStable(ctx, p, tr, "the group to form"); err != nil {
		return rr, err
	}
	// Join: an 11th member starts.
	joiner := len(ms)
	rr.events[evJoin], err = timeEvent(ctx, p, tr, joiner, p.eventMax, nil, func() error {
		m, err := startMember(mc, joiner)
		if err == nil {
			ms = append(ms, m)
		}
		return err
	})
	if err != nil {
		return rr, fmt.Errorf("join: %w", err)
	}
	if err := waitStable(ctx, p, tr, "the group to settle after the join"); err != nil {
		return rr, err
	}
	// Leave: the 11th member closes its client, which sends LeaveGroup.
	leaver := ms[joiner]
	ms = ms[:joiner]
	closed := make(chan error, 1)
	rr.events[evLeave], err = timeEvent(ctx, p, tr, -1, p.eventMax, nil, func() error {
		tr.dead(leaver.index)
		go func() { closed <- leaver.close(p.eventMax) }()
		return nil
	})
	if err != nil {
		return rr, fmt.Errorf("leave: %w", err)
	}
	if err := <-closed; err != nil {
		return rr, err
	}
	if err := waitStable(ctx, p, tr, "the group to settle after the leave"); err != nil {
		return rr, err
	}
	// Kill: right after one of its heartbeats is answered, a member's
	// connections are closed; it sends nothing more.
	victim := ms[p.members/2]
	ev, err := timeEvent(ctx, p, tr, -1, p.session+p.eventMax, func() error {
		return victim.nextHeartbeat(ctx, 2*p.heartbeat+5*time.Second)
	}, func() error {
		tr.dead(victim.index)
		victim.kill()
		return nil
	})
	if err != nil {
		return rr, fmt.Errorf("kill: %w", err)
	}
	expiry := victim.lastGroupRequest().Add(p.session)
	ev.fromExpiry = ev.dur - expiry.Sub(ev.at)
	rr.events[evKill] = ev
	return rr, nil
}

// waitStable waits until the group is stable (tracker.stable) and gives
// it p.baseline more, whose consumption is the "before" of the next event.
func waitStable(ctx context.Context, p params, tr *tracker, what string) error {
	deadline := time.Now().Add(p.settleMax)
	for !tr.stable(p.quiet) {
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting %v for %s: %w", p.settleMax, what, errTimeout)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// timeEvent waits p.baseline, arms the tracker, does the event and waits
// until the group consumes again (at most limit), then p.after more. need
// is a member that must own partitions for the group to count as done.
// prepare, if not nil, runs after the baseline and before the clock
// starts; do is the event and must not wait.
func timeEvent(ctx context.Context, p params, tr *tracker, need int, limit time.Duration, prepare, do func() error) (eventResult, error) {
	if err := sleep(ctx, p.baseline); err != nil {
		return eventResult{}, err
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return eventResult{}, err
		}
	}
	if need >= 0 {
		tr.addMember(need)
	}
	done := tr.arm(need)
	t0 := time.Now()
	if err := do(); err != nil {
		return eventResult{}, err
	}
	var end time.Time
	select {
	case end = <-done:
	case <-time.After(limit):
		return eventResult{}, fmt.Errorf("not consuming again after %v: %w", limit, errTimeout)
	case <-ctx.Done():
		return eventResult{}, ctx.Err()
	}
	if err := sleep(ctx, p.after); err != nil {
		return eventResult{}, err
	}
	ev := dip(tr, t0, end, p.baseline, p.after)
	ev.at = t0
	gaps := tr.gaps()
	ev.gapMedian, ev.gapMax = rpt.Median(gaps), slices.Max(gaps)
	return ev, nil
}

// dip summarises consumption around an event from the tracker's buckets.
// A mean over the event would mislead: the records a moved partition
// missed are caught up in one or two buckets at its end.
func dip(tr *tracker, t0, end time.Time, baseline, after time.Duration) eventResult {
	ev := eventResult{dur: end.Sub(t0)}
	ev.before = mean(tr.rates(t0.Add(-baseline), t0))
	during := tr.rates(t0, end)
	ev.during = rpt.Median(during)
	ev.lowest = slices.Min(during)
	for _, r := range during {
		if r < ev.before/10 {
			ev.stall += bucketDur
		}
	}
	var behind float64
	for _, r := range tr.rates(t0, end.Add(after)) {
		behind += (ev.before - r) * bucketDur.Seconds()
		ev.behind = max(ev.behind, behind)
	}
	ev.after = mean(tr.rates(end, end.Add(after)))
	ev.spark = spark(tr.rates(t0.Add(-time.Second), t0), during, tr.rates(end, end.Add(time.Second)), ev.before)
	return ev
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func logRound(rr roundResult) {
	for _, e := range events {
		ev := rr.events[e]
		msg := fmt.Sprintf("%s %s round %d %s: %v", rr.side, rr.balancer, rr.round+1, e, ev.dur.Round(time.Millisecond))
		if e == evKill {
			msg += fmt.Sprintf(" (from expiry %v)", ev.fromExpiry.Round(time.Millisecond))
		}
		stdlog.Printf("%s; %.0f → %.0f (lowest %.0f) → %.0f rec/s; stall %v; behind %.0f; gaps %v / %v  %s", msg, ev.before, ev.during, ev.lowest, ev.after, ev.stall, ev.behind,
			ev.gapMedian.Round(time.Millisecond), ev.gapMax.Round(time.Millisecond), ev.spark)
	}
	stdlog.Printf("%s %s round %d: produced %.0f rec/s (%d failed), %d stray records", rr.side, rr.balancer, rr.round+1, rr.produced, rr.produceFailed, rr.strays)
}
