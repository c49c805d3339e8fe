package main

import (
	"fmt"
	rpt "github.com/runnel-io/runnel/benchmarks/internal/report"
	"math"
	"slices"
)

// bigTopic is the topic of the size-independence figures.
const bigTopic = "big"

// bigFigures fills a topic of -big bytes on each disk broker (taking turns
// a chunk at a time), then measures, taking turns within each round:
// consume from the start of the small topic vs the big one (cold when
// possible), and produce into a new topic vs into the big one. kfake is
// left out: it would hold the whole topic in memory.
func (b *bench) bigFigures() error {
	ts := b.onDisk()
	if b.p.big <= 0 || len(ts) == 0 {
		return nil
	}
	s := b.rep.section(fmt.Sprintf("Size independence: a %s topic vs a small one (runnel and JetStream; kfake would hold it in memory)", fmtSize(b.p.big)),
		"figure", "runnel, big topic", "runnel, small topic", "runnel big / small", "JetStream, big topic", "JetStream, small topic", "JetStream big / small", "target", "met?")
	fill, err := b.fillBig(ts)
	if err != nil {
		return err
	}
	how := "warm"
	if b.cold {
		how = "cold: broker restarted, then page cache dropped"
	}
	small, big, err := b.consumeSmallBig(ts)
	if err != nil {
		return err
	}
	b.sizeRow(s, fmt.Sprintf("consume from the start, %s: the whole %s topic vs the %s one", how, fmtSize(b.p.big), rpt.Bytes(b.p.small)), big, small)
	if b.cold {
		if err := b.rawReadRow(s, ts); err != nil {
			return err
		}
	}
	for _, size := range []int{100, 1024} {
		small, big, err := b.produceSmallBig(ts, size)
		if err != nil {
			return err
		}
		b.sizeRow(s, fmt.Sprintf("produce %d-byte records, %d producers, acks=all (%s of values per round): into the %s topic vs into a new topic",
			size, b.p.producers, rpt.Bytes(b.p.produceData[size]), fmtSize(b.p.big)), big, small)
	}
	s.row(fmt.Sprintf("for reference: writing the %s topic, %s at a time per broker, taking turns", fmtSize(b.p.big), rpt.Bytes(b.p.chunk)),
		fill[peerRunnel].mbCell(), "—", "—", fill[peerJetStream].mbCell(), "—", "—", "—", "—")
	s.note("Within each round the two sizes take turns (the order swapping every round), so both sides of a ratio ran at the same time of the run.")
	return nil
}

// rawReadRow reads each broker's files of the big and the small topic
// with read(2), cold, once each: what the disk and the page cache give
// for each size, whatever the broker.
func (b *bench) rawReadRow(s *section, ts []*target) error {
	cells := []string{fmt.Sprintf("for reference: read(2) of the topic's files, cold, 1 MiB reads (bytes on disk): %s vs %s", fmtSize(b.p.big), rpt.Bytes(b.p.small))}
	for _, name := range []string{peerRunnel, peerJetStream} {
		t := b.find(name)
		if t == nil || !slices.Contains(ts, t) {
			cells = append(cells, "—", "—", "—")
			continue
		}
		var rates [2]*tput
		for i, topic := range []string{bigTopic, consumeTopic} {
			if err := dropCaches(); err != nil {
				return err
			}
			progress("read(2) of %s's %s files, cold", name, topic)
			n, d, err := readFiles(topicFiles(t, topic))
			if err != nil {
				return err
			}
			rates[i] = &tput{runs: []sample{{bytes: n, d: d}}}
		}
		cells = append(cells, rates[0].mbCell(), rates[1].mbCell(), ratio(rates[0].mbps(), rates[1].mbps()))
	}
	s.row(append(cells, "—", "—")...)
	return nil
}

func (b *bench) fillBig(ts []*target) (map[string]*tput, error) {
	if err := b.beginPhase("fill-big"); err != nil {
		return nil, err
	}
	fill := map[string]*tput{}
	for _, t := range ts {
		if err := b.create(t, bigTopic); err != nil {
			return nil, err
		}
		fill[t.name] = &tput{}
	}
	for filled := int64(0); filled < b.p.big; filled += b.p.chunk {
		n := min(b.p.chunk, b.p.big-filled) / 1024
		for _, t := range ts {
			progress("writing the big topic to %s: %s of %s", t.name, rpt.Bytes(filled+n*1024), fmtSize(b.p.big))
			run, err := b.produce(t, bigTopic, n, 1024)
			if err != nil {
				return nil, err
			}
			fill[t.name].add(run)
		}
	}
	// The fill's throughput is all its chunks together.
	for _, f := range fill {
		var all sample
		for _, r := range f.runs {
			all.records, all.bytes, all.d = all.records+r.records, all.bytes+r.bytes, all.d+r.d
		}
		f.runs = []sample{all}
	}
	if err := b.endPhase(fmt.Sprintf("writing the %s topic (peak)", fmtSize(b.p.big)), ts); err != nil {
		return nil, err
	}
	row := memRow{label: fmt.Sprintf("holding the %s topic, idle", fmtSize(b.p.big)), rss: map[string]int64{}}
	for _, t := range ts {
		row.rss[t.name] = t.proc.rss.now()
	}
	b.mem = append(b.mem, row)
	return fill, nil
}

func (b *bench) consumeSmallBig(ts []*target) (small, big map[string]*tput, err error) {
	if err := b.beginPhase("consume-big"); err != nil {
		return nil, nil, err
	}
	small, big = map[string]*tput{}, map[string]*tput{}
	for _, t := range ts {
		small[t.name], big[t.name] = &tput{}, &tput{}
	}
	for r := range b.p.rounds {
		for i, t := range rotated(ts, r) {
			order := []string{consumeTopic, bigTopic}
			if (r+i)%2 == 1 {
				order[0], order[1] = order[1], order[0]
			}
			for _, topic := range order {
				if b.cold {
					if err := b.restart(t); err != nil {
						return nil, nil, err
					}
					if err := dropCaches(); err != nil {
						return nil, nil, err
					}
				}
				progress("consume %s from %s, round %d", topic, t.name, r+1)
				run, err := b.consume(t, topic)
				if err != nil {
					return nil, nil, err
				}
				if topic == bigTopic {
					big[t.name].add(run)
				} else {
					small[t.name].add(run)
				}
			}
		}
	}
	err = b.endPhase(fmt.Sprintf("consume the %s and the %s topic (peak)", rpt.Bytes(b.p.small), fmtSize(b.p.big)), ts)
	return small, big, err
}

func (b *bench) produceSmallBig(ts []*target, size int) (small, big map[string]*tput, err error) {
	if err := b.beginPhase(fmt.Sprintf("produce-big-%d", size)); err != nil {
		return nil, nil, err
	}
	small, big = map[string]*tput{}, map[string]*tput{}
	for _, t := range ts {
		small[t.name], big[t.name] = &tput{}, &tput{}
	}
	n := b.p.produceData[size] / int64(size)
	for r := range b.p.rounds {
		fresh := fmt.Sprintf("fresh-%d-r%d", size, r)
		for i, t := range rotated(ts, r) {
			if err := b.create(t, fresh); err != nil {
				return nil, nil, err
			}
			order := []string{fresh, bigTopic}
			if (r+i)%2 == 1 {
				order[0], order[1] = order[1], order[0]
			}
			for _, topic := range order {
				progress("produce %d B × %d to %s of %s, round %d", size, n, topic, t.name, r+1)
				run, err := b.produce(t, topic, n, size)
				if err != nil {
					return nil, nil, err
				}
				if topic == bigTopic {
					big[t.name].add(run)
				} else {
					small[t.name].add(run)
				}
			}
		}
	}
	if err := b.endPhase(fmt.Sprintf("produce %d-byte records into the %s topic and a new one (peak)", size, fmtSize(b.p.big)), ts); err != nil {
		return nil, nil, err
	}
	for _, t := range ts {
		for r := range b.p.rounds {
			if err := b.drop(t, fmt.Sprintf("fresh-%d-r%d", size, r)); err != nil {
				return nil, nil, err
			}
		}
	}
	return small, big, nil
}

// sizeRow compares big-topic with small-topic throughput; runnel's target
// is to stay within 10%.
func (b *bench) sizeRow(s *section, figure string, big, small map[string]*tput) {
	cells := []string{figure}
	for _, name := range []string{peerRunnel, peerJetStream} {
		bt, st := big[name], small[name]
		cells = append(cells, bt.cell(), st.cell())
		if bt.ok() && st.ok() {
			cells = append(cells, fmt.Sprintf("%.2f", bt.mbps()/st.mbps()))
		} else {
			cells = append(cells, "—")
		}
	}
	r, rs := big[peerRunnel], small[peerRunnel]
	if !r.ok() || !rs.ok() {
		s.row(append(cells, "—", "—")...)
		return
	}
	q := r.mbps() / rs.mbps()
	met := math.Abs(q-1) <= 0.10
	s.row(append(cells, "runnel within 10%", yesNo(met))...)
	b.rep.target(figure, "within 10%", fmt.Sprintf("%s vs %s: %.2f", fmtMBps(r.mbps()), fmtMBps(rs.mbps()), q), met)
}

// fmtSize prints whole gigabytes (10e9) as "10 GB", anything else in
// binary units.
func fmtSize(n int64) string {
	if n >= 1e9 && n%1e9 == 0 {
		return fmt.Sprintf("%d GB", n/1e9)
	}
	return rpt.Bytes(n)
}
