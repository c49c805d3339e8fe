package engine

import "time"

// PunctuationType says which clock a punctuation follows.
type PunctuationType int

const (
	// StreamTime punctuations fire as the task's stream time (the largest
	// record timestamp seen) advances: they never fire while no records
	// arrive, and replaying old data fires them as it did the first time.
	StreamTime PunctuationType = iota
	// WallClock punctuations fire on the runtime's clock.
	WallClock
)

// Punctuation is a scheduled callback; Cancel stops it.
type Punctuation struct {
	typ      PunctuationType
	interval int64
	next     int64
	fn       func(ts int64) error
	c        *ProcCtx
	canceled bool
}

// Cancel stops the punctuation.
func (p *Punctuation) Cancel() { p.canceled = true }

// Schedule calls fn every interval on the given clock, first one interval
// from now (stream time: from the current stream time, or from the first
// record's). If the clock jumps several intervals, fn is called once, as
// in Kafka Streams.
func (c *ProcCtx) Schedule(interval time.Duration, typ PunctuationType, fn func(ts int64) error) *Punctuation {
	ms := max(interval.Milliseconds(), 1)
	p := &Punctuation{typ: typ, interval: ms, fn: fn, c: c, next: NoStreamTime}
	if typ == WallClock {
		p.next = c.Task.env.Now().UnixMilli() + ms
	} else if st := c.Task.streamTime; st != NoStreamTime {
		p.next = st + ms
	}
	c.Task.punct = append(c.Task.punct, p)
	return p
}

func (t *Task) punctuate(typ PunctuationType, now int64) error {
	if now == NoStreamTime {
		return nil
	}
	kept := t.punct[:0]
	var fire []*Punctuation
	for _, p := range t.punct {
		if p.canceled {
			continue
		}
		kept = append(kept, p)
		if p.typ != typ {
			continue
		}
		if p.next == NoStreamTime {
			p.next = now + p.interval
			continue
		}
		if now >= p.next {
			p.next += ((now-p.next)/p.interval + 1) * p.interval
			fire = append(fire, p)
		}
	}
	t.punct = kept
	for _, p := range fire {
		if err := p.fn(now); err != nil {
			return err
		}
	}
	return nil
}
