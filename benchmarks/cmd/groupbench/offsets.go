package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchBlock is how many OffsetFetch requests one side makes before the
// other takes its turn.
const fetchBlock = 500

// offsetResults are the offset phase's figures, by side.
type offsetResults struct {
	topic    string
	fill     map[string]time.Duration   // first commit of every group
	commits  map[string][]float64       // commits/s, one per round
	fetches  map[string][]time.Duration // every OffsetFetch latency, sorted
	verified map[string]int             // groups whose fetched offsets matched their last commit
}

// offsetSide is one side's clients and what it committed.
type offsetSide struct {
	s          *side
	committers []*kgo.Client
	fetcher    *kgo.Client
	// last is each group's last committed offset; committer c only
	// commits the groups g with g % committers == c, so each entry has
	// one writer.
	last []atomic.Int64
	seq  atomic.Int64
}

// offsetFigures measures commit throughput and OffsetFetch latency with
// p.groups groups holding committed offsets, the sides taking turns.
func offsetFigures(ctx context.Context, p params, sides []*side) (*offsetResults, error) {
	res := &offsetResults{
		topic: "groupbench-offsets",
		fill:  map[string]time.Duration{}, commits: map[string][]float64{},
		fetches: map[string][]time.Duration{}, verified: map[string]int{},
	}
	var os []*offsetSide
	defer func() {
		for _, o := range os {
			o.close()
		}
	}()
	for _, s := range sides {
		if !p.measured(s) {
			continue
		}
		if err := s.createTopic(ctx, res.topic, p.commitPartitions); err != nil {
			return nil, err
		}
		o, err := newOffsetSide(s, p)
		if err != nil {
			return nil, err
		}
		os = append(os, o)
		// Fill: every group commits once, so that all of them have
		// committed offsets before anything is timed.
		start := time.Now()
		if _, err := o.commitFor(ctx, p, res.topic, time.Time{}); err != nil {
			return nil, fmt.Errorf("%s: fill: %w", s.name, err)
		}
		res.fill[s.name] = time.Since(start)
	}
	rounds := max(p.rounds, 3)
	for r := range rounds {
		for i := range os {
			o := os[(i+r)%len(os)]
			start := time.Now()
			n, err := o.commitFor(ctx, p, res.topic, start.Add(p.commitTime))
			if err != nil {
				return nil, fmt.Errorf("%s: commit round %d: %w", o.s.name, r+1, err)
			}
			res.commits[o.s.name] = append(res.commits[o.s.name], float64(n)/time.Since(start).Seconds())
		}
	}
	for _, o := range os {
		n, err := o.verify(ctx, p, res.topic)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.s.name, err)
		}
		res.verified[o.s.name] = n
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for done := 0; done < p.fetches; done += fetchBlock {
		for i := range os {
			o := os[(i+done/fetchBlock)%len(os)]
			for range min(fetchBlock, p.fetches-done) {
				g := rng.IntN(p.groups)
				t0 := time.Now()
				if _, err := o.fetch(ctx, groupName(g)); err != nil {
					return nil, fmt.Errorf("%s: OffsetFetch: %w", o.s.name, err)
				}
				res.fetches[o.s.name] = append(res.fetches[o.s.name], time.Since(t0))
			}
		}
	}
	for _, lat := range res.fetches {
		slices.Sort(lat)
	}
	return res, nil
}

func newOffsetSide(s *side, p params) (*offsetSide, error) {
	o := &offsetSide{s: s, last: make([]atomic.Int64, p.groups)}
	for i := range p.committers {
		cl, err := kgo.NewClient(append(s.clientOpts(), kgo.ClientID(fmt.Sprintf("groupbench-committer-%d", i)))...)
		if err != nil {
			return nil, err
		}
		o.committers = append(o.committers, cl)
	}
	cl, err := kgo.NewClient(append(s.clientOpts(), kgo.ClientID("groupbench-fetcher"))...)
	if err != nil {
		return nil, err
	}
	o.fetcher = cl
	return o, nil
}

func (o *offsetSide) close() {
	for _, cl := range o.committers {
		cl.Close()
	}
	if o.fetcher != nil {
		o.fetcher.Close()
	}
}

func groupName(g int) string { return fmt.Sprintf("groupbench-offsets-%04d", g) }

// commitFor has every committer commit, one request at a time, for its
// groups in turn until until (a zero until: each of its groups once). It
// returns how many commits succeeded; any error stops it.
func (o *offsetSide) commitFor(ctx context.Context, p params, topic string, until time.Time) (int, error) {
	var (
		wg    sync.WaitGroup
		total atomic.Int64
		errs  = make(chan error, len(o.committers))
	)
	for c, cl := range o.committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for g := c; g < p.groups; g += len(o.committers) {
				mine = append(mine, g)
			}
			for k := 0; ; k++ {
				if until.IsZero() && k == len(mine) {
					return // every group once
				}
				if !until.IsZero() && time.Now().After(until) {
					return
				}
				g := mine[k%len(mine)]
				off := o.seq.Add(1)
				if err := commit(ctx, cl, groupName(g), topic, p.commitPartitions, off); err != nil {
					errs <- fmt.Errorf("group %s: %w", groupName(g), err)
					return
				}
				o.last[g].Store(off)
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return int(total.Load()), <-errs
}

// commit is a simple commit (generation -1, no member, as kadm and admin
// tools commit for a group with no members) of offset to every partition.
func commit(ctx context.Context, cl *kgo.Client, group, topic string, partitions int32, offset int64) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	for p := range partitions {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, offset, -1
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	n := 0
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return fmt.Errorf("partition %d: %w", rp.Partition, err)
			}
			n++
		}
	}
	if n != int(partitions) {
		return fmt.Errorf("%d partitions answered, want %d", n, partitions)
	}
	return nil
}

// fetch asks for every offset the group committed and returns them by
// partition.
func (o *offsetSide) fetch(ctx context.Context, group string) (map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	resp, err := req.RequestWith(ctx, o.fetcher)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	got := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("%s/%d: %w", rt.Topic, rp.Partition, err)
			}
			got[rp.Partition] = rp.Offset
		}
	}
	return got, nil
}

// verify fetches every group's offsets (which also warms the fetcher's
// coordinator cache) and checks them against the last commit.
func (o *offsetSide) verify(ctx context.Context, p params, topic string) (int, error) {
	for g := range p.groups {
		got, err := o.fetch(ctx, groupName(g))
		if err != nil {
			return g, fmt.Errorf("verify %s: %w", groupName(g), err)
		}
		want := o.last[g].Load()
		if len(got) != int(p.commitPartitions) {
			return g, fmt.Errorf("verify %s: %d partitions of %s have offsets, want %d", groupName(g), len(got), topic, p.commitPartitions)
		}
		for part, off := range got {
			if off != want {
				return g, fmt.Errorf("verify %s: partition %d at offset %d, last commit was %d", groupName(g), part, off, want)
			}
		}
	}
	return p.groups, nil
}
