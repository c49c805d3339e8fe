package main

import (
	"fmt"
	rpt "github.com/runnel-io/runnel/benchmarks/internal/report"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// report is everything the run prints.
type report struct {
	params          params
	start           time.Time
	elapsed         time.Duration
	machine         machine
	command         string
	load, loadAfter string
	sides           []string
	versions        string
	rebalance       *rebalanceResults
	offsets         *offsetResults
}

func (r *report) write(w io.Writer) {
	fmt.Fprintf(w, "## groupbench — %s\n\n", r.start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- %s\n", r.machine.goVersion)
	fmt.Fprintf(w, "- CPU: %s, %d cores; load average (1, 5, 15 min) %s at the start, %s at the end\n", r.machine.cpu, r.machine.cores, r.load, r.loadAfter)
	fmt.Fprintf(w, "- command: `%s` (total run time %v)\n", r.command, r.elapsed.Round(time.Second))
	for _, s := range r.sides {
		fmt.Fprintf(w, "- %s\n", s)
	}
	fmt.Fprintf(w, "- %s\n", r.versions)
	fmt.Fprintln(w, "- ratio = runnel / kfake: above 1 means runnel takes longer (times) or does more (rates)")
	if r.rebalance != nil {
		r.writeRebalance(w)
	}
	if r.offsets != nil {
		r.writeOffsets(w)
	}
}

// eventRows are the rebalance-time rows: label, event, and which duration.
var eventRows = []struct {
	label, event string
	fromExpiry   bool
}{
	{"Join: an 11th member starts", evJoin, false},
	{"Leave: the 11th member closes (LeaveGroup)", evLeave, false},
	{"Kill: a member's connections are closed, no LeaveGroup — from the kill (session timeout included)", evKill, false},
	{"Kill — from the earliest moment its session could expire (last request to the coordinator + session timeout)", evKill, true},
}

func (r *report) writeRebalance(w io.Writer) {
	p := r.params
	fmt.Fprintf(w, "\n### Rebalance time: %d members, %d partitions, a producer at %s records/s (median of %s, range in brackets)\n\n",
		p.members, p.partitions, rpt.Int(float64(p.rate)), plural(p.rounds, "round"))
	fmt.Fprintf(w, "Each time runs from the event until every partition is owned by a live member and has delivered a record to it "+
		"since the event and since it got the partition. kgo options on both sides: session timeout %v, heartbeat interval %v, "+
		"rebalance timeout 60 s (kgo default), autocommit every 5 s and on revoke (kgo default), new groups start at the end of the topic. "+
		"The member killed is the 6th of the 10 to start; it is killed right after one of its heartbeats is answered.\n\n",
		rpt.Dur(p.session), rpt.Dur(p.heartbeat))
	writeHead(w)
	for _, b := range balancers {
		for _, er := range eventRows {
			cells := map[string]string{}
			meds := map[string]float64{}
			for _, side := range []string{sideRunnel, sideKfake} {
				var ds []time.Duration
				for _, rr := range r.rebalance.rounds {
					if rr.side == side && rr.balancer == b.name {
						ev := rr.events[er.event]
						if er.fromExpiry {
							ds = append(ds, ev.fromExpiry)
						} else {
							ds = append(ds, ev.dur)
						}
					}
				}
				if len(ds) == 0 {
					continue
				}
				m := rpt.Median(ds)
				meds[side] = m.Seconds()
				cells[side] = rpt.Dur(m) + durRange(ds)
			}
			writeRow(w, fmt.Sprintf("%s, %s", er.label, b.name), cells, ratio(meds))
		}
	}
	r.writeDip(w)
}

func (r *report) writeDip(w io.Writer) {
	p := r.params
	fmt.Fprintf(w, "\n### Consumption around each event: records/s in %v buckets (median of %s)\n\n", rpt.Dur(bucketDur), plural(p.rounds, "round"))
	fmt.Fprintf(w, "before: mean over the %v before the event; during: the median bucket from the event until the group consumes "+
		"again, and in brackets the lowest; after: mean over the %v after (catching up). Behind: the most records consumption fell "+
		"behind the rate before the event (sum over buckets from the event to %v after it of before − bucket), and in brackets as "+
		"seconds of input at that rate. Stalled: the buckets during the event below 10%% of before. Partition gaps: for each "+
		"partition, the longest time it delivered nothing to a live member (among the gaps that ended between the event and "+
		"the group consuming again; with records every %v a partition normally delivers every few ms to tens of ms); the "+
		"median over the partitions and the longest. The ratios compare the during medians, the records behind and the "+
		"longest gaps.\n\n", p.baseline, p.after, p.after, time.Duration(float64(time.Second)*float64(p.partitions)/float64(p.rate)))
	writeHead(w)
	for _, b := range balancers {
		for _, e := range events {
			cells, behindCells, gapCells := map[string]string{}, map[string]string{}, map[string]string{}
			during, behind, gapMax := map[string]float64{}, map[string]float64{}, map[string]float64{}
			for _, side := range []string{sideRunnel, sideKfake} {
				var before, dur, low, after, bh []float64
				var st, gm, gx []time.Duration
				for _, rr := range r.rebalance.rounds {
					if rr.side == side && rr.balancer == b.name {
						ev := rr.events[e]
						before, dur, low, after = append(before, ev.before), append(dur, ev.during), append(low, ev.lowest), append(after, ev.after)
						bh, st = append(bh, ev.behind), append(st, ev.stall)
						gm, gx = append(gm, ev.gapMedian), append(gx, ev.gapMax)
					}
				}
				if len(dur) == 0 {
					continue
				}
				cells[side] = fmt.Sprintf("%s → %s (%s) → %s", rpt.Int(rpt.Median(before)), rpt.Int(rpt.Median(dur)), rpt.Int(rpt.Median(low)), rpt.Int(rpt.Median(after)))
				during[side] = rpt.Median(dur)
				behind[side] = rpt.Median(bh)
				behindCells[side] = fmt.Sprintf("%s (%.2f s); stalled %s", rpt.Int(rpt.Median(bh)), rpt.Median(bh)/rpt.Median(before), rpt.Dur(rpt.Median(st)))
				gapCells[side] = fmt.Sprintf("%s / %s", rpt.Dur(rpt.Median(gm)), rpt.Dur(rpt.Median(gx)))
				gapMax[side] = rpt.Median(gx).Seconds()
			}
			writeRow(w, fmt.Sprintf("%s, %s: before → during (lowest) → after", e, b.name), cells, ratio(during))
			writeRow(w, fmt.Sprintf("%s, %s: behind; stalled", e, b.name), behindCells, ratio(behind))
			writeRow(w, fmt.Sprintf("%s, %s: partition gaps, median / longest", e, b.name), gapCells, ratio(gapMax))
		}
	}
	fmt.Fprintf(w, "\nThe median round of each, in %v buckets from 1 s before the event to 1 s after the group consumes again "+
		"(▆ is about the rate before the event, ▁ a sixth of it, █ a third more or above, _ nothing; | marks the event and the end):\n\n```\n", bucketDur)
	for _, b := range balancers {
		for _, e := range events {
			for _, side := range []string{sideRunnel, sideKfake} {
				var evs []eventResult
				for _, rr := range r.rebalance.rounds {
					if rr.side == side && rr.balancer == b.name {
						evs = append(evs, rr.events[e])
					}
				}
				if len(evs) == 0 {
					continue
				}
				slices.SortFunc(evs, func(a, b eventResult) int { return int(a.dur - b.dur) })
				ev := evs[len(evs)/2]
				fmt.Fprintf(w, "%-6s %-5s %-18s %7s %s\n", side, e, b.name, rpt.Dur(ev.dur), ev.spark)
			}
		}
	}
	fmt.Fprintln(w, "```")
	var notes []string
	for _, rr := range r.rebalance.rounds {
		if rr.produceFailed > 0 || rr.strays > 0 || rr.produced < 0.95*float64(p.rate) {
			notes = append(notes, fmt.Sprintf("%s, %s, round %d: producer acknowledged %s records/s, %d failed; %d records polled from partitions the callbacks said the member did not own",
				rr.side, rr.balancer, rr.round+1, rpt.Int(rr.produced), rr.produceFailed, rr.strays))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNotes:\n\n- %s\n", strings.Join(notes, "\n- "))
	}
}

func (r *report) writeOffsets(w io.Writer) {
	p, o := r.params, r.offsets
	rounds := max(p.rounds, 3)
	fmt.Fprintf(w, "\n### Committed offsets: %s groups, a topic of %d partitions\n\n", rpt.Int(float64(p.groups)), p.commitPartitions)
	fmt.Fprintf(w, "Commits are simple commits (generation -1, no member, as kadm commits) of all %d partitions of the topic, "+
		"%d committers (one kgo client each, one request at a time); rounds of %v per side, taking turns. OffsetFetch asks for "+
		"every offset of one group chosen at random, one request at a time from one client, in blocks of %d taking turns. "+
		"Before the fetches, every group's offsets were fetched and checked against its last commit.\n\n",
		p.commitPartitions, p.committers, rpt.Dur(p.commitTime), fetchBlock)
	writeHead(w)
	cells, meds := map[string]string{}, map[string]float64{}
	for side, cs := range o.commits {
		m := rpt.Median(cs)
		meds[side] = m
		cells[side] = fmt.Sprintf("%s commits/s = %s offsets/s%s", rpt.Int(m), rpt.Int(m*float64(p.commitPartitions)), rateRange(cs))
	}
	writeRow(w, fmt.Sprintf("OffsetCommit throughput (median of %s)", plural(rounds, "round")), cells, ratio(meds))
	cells, meds = map[string]string{}, map[string]float64{}
	for side, d := range o.fill {
		meds[side] = d.Seconds()
		cells[side] = fmt.Sprintf("%s (%s commits/s)", rpt.Dur(d), rpt.Int(float64(p.groups)/d.Seconds()))
	}
	writeRow(w, fmt.Sprintf("First commit of %d new groups, before any timing", p.groups), cells, ratio(meds))
	for _, q := range []float64{50, 99, 99.9} {
		cells, meds = map[string]string{}, map[string]float64{}
		for side, lat := range o.fetches {
			v := rpt.Percentile(lat, q)
			meds[side] = v.Seconds()
			cells[side] = rpt.Dur(v)
		}
		writeRow(w, fmt.Sprintf("OffsetFetch latency p%g (%d requests)", q, p.fetches), cells, ratio(meds))
	}
	for side, n := range o.verified {
		fmt.Fprintf(w, "\n%s: %d of %d groups' fetched offsets matched their last commit.", side, n, p.groups)
	}
	fmt.Fprintln(w)
}

func writeHead(w io.Writer) {
	fmt.Fprintln(w, "| figure | runnel | kfake | ratio |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
}

func writeRow(w io.Writer, figure string, cells map[string]string, ratio string) {
	cell := func(s string) string {
		if v, ok := cells[s]; ok {
			return v
		}
		return "—"
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s |\n", figure, cell(sideRunnel), cell(sideKfake), ratio)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// ratio is runnel / kfake, or "—" without both.
func ratio(v map[string]float64) string {
	a, okA := v[sideRunnel]
	b, okB := v[sideKfake]
	if !okA || !okB || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// spark draws buckets scaled to base: ▆ is base, ▁ a sixth of it, █ a
// third more or above, _ zero.
func spark(pre, during, post []float64, base float64) string {
	bl := []rune("▁▂▃▄▅▆▇█")
	draw := func(xs []float64) string {
		var sb strings.Builder
		for _, x := range xs {
			switch {
			case x == 0:
				sb.WriteRune('_')
			case base <= 0:
				sb.WriteRune(bl[7])
			default:
				i := int(math.Round(x / base * 6))
				sb.WriteRune(bl[min(max(i, 1), 8)-1])
			}
		}
		return sb.String()
	}
	return draw(pre) + "|" + draw(during) + "|" + draw(post)
}

// durRange is " (lo–hi)" of a sample, or "" for a single value.
func durRange(ds []time.Duration) string {
	if len(ds) < 2 {
		return ""
	}
	return fmt.Sprintf(" (%s–%s)", rpt.Dur(slices.Min(ds)), rpt.Dur(slices.Max(ds)))
}

func rateRange(vs []float64) string {
	if len(vs) < 2 {
		return ""
	}
	return fmt.Sprintf(" (range %s–%s)", rpt.Int(slices.Min(vs)), rpt.Int(slices.Max(vs)))
}
