package stream_test

import (
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
	"github.com/runnel-io/runnel/stream/streamtest"
)

// sec prints a time as seconds after t0 ("65", "10.001").
func sec(t time.Time) string {
	return strconv.FormatFloat(float64(t.Sub(t0).Milliseconds())/1000, 'f', -1, 64)
}

func atMs(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// windowed reads a windowed output topic as "key@start/end=value" lines,
// times in seconds after t0, with the records' timestamps when ts is set.
func windowed[K, V any](t *testing.T, out *streamtest.OutputTopic[stream.Windowed[K], V], ts bool) []string {
	t.Helper()
	recs, err := out.ReadAll()
	must(t, err)
	var got []string
	for _, r := range recs {
		s := fmt.Sprintf("%v@%s/%s=", r.Key.Key, sec(r.Key.Window.Start), sec(r.Key.Window.End))
		if r.Tombstone {
			s += "<nil>"
		} else {
			s += fmt.Sprint(r.Value)
		}
		if ts {
			s += " ts=" + sec(r.Timestamp)
		}
		got = append(got, s)
	}
	return got
}

func countIn(t *testing.T, b *stream.Builder, w stream.TimeWindows, final bool, opts ...stream.Option) {
	in := stream.From(b, "clicks", serde.String, serde.String)
	wg := stream.GroupByKey(in).WindowedBy(w)
	if final {
		wg = wg.EmitFinal()
	}
	stream.ToStream(wg.Count(opts...)).To("counts")
}

func TestTumblingWindows(t *testing.T) {
	b := stream.NewBuilder()
	countIn(t, b, stream.Tumbling(time.Minute).Grace(10*time.Second), false, stream.Named("per-minute"))
	d := build(t, b)
	in := streamtest.Input(d, "clicks", serde.String, serde.String)
	out := streamtest.Output(d, "counts", stream.WindowedSerde(serde.String, time.Minute), serde.Int64)
	must(t, in.Pipe("a", "x", at(5)))
	must(t, in.Pipe("a", "x", at(30)))
	must(t, in.Pipe("b", "x", at(61)))
	must(t, in.Pipe("a", "x", at(69))) // stream time 69: [0,60) is open until 70
	must(t, in.Pipe("a", "x", at(50))) // out of order, within grace
	must(t, in.Pipe("b", "x", at(70))) // stream time 70: [0,60) closes
	must(t, in.Pipe("a", "x", at(59))) // beyond grace: dropped
	must(t, in.Pipe("a", "x", at(119)))
	must(t, in.Pipe("a", "x", at(120)))
	expect(t, windowed(t, out, true),
		"a@0/60=1 ts=5", "a@0/60=2 ts=30", "b@60/120=1 ts=61", "a@60/120=1 ts=69",
		"a@0/60=3 ts=50", // the window's timestamp is its latest record's
		"b@60/120=2 ts=70", "a@60/120=2 ts=119", "a@120/180=1 ts=120")
	if m := d.Metrics(); m["dropped-records-late"] != 1 {
		t.Errorf("metrics %v: want one late record", m)
	}
	latest, err := streamtest.Latest(out)
	must(t, err)
	w := stream.Windowed[string]{Key: "a", Window: stream.Window{Start: at(0), End: at(60)}}
	if latest[w] != 3 {
		t.Errorf("latest %v: a@[0,60) = %d, want 3", latest, latest[w])
	}
}

func TestHoppingWindows(t *testing.T) {
	b := stream.NewBuilder()
	countIn(t, b, stream.Hopping(10*time.Second, 5*time.Second).Grace(2*time.Second), false)
	d := build(t, b)
	in := streamtest.Input(d, "clicks", serde.String, serde.String)
	out := streamtest.Output(d, "counts", stream.WindowedSerde(serde.String, 10*time.Second), serde.Int64)
	must(t, in.Pipe("a", "x", at(7))) // in [0,10) and [5,15)
	must(t, in.Pipe("a", "x", at(10)))
	must(t, in.Pipe("a", "x", at(12))) // [0,10) closes at 12
	must(t, in.Pipe("a", "x", at(9)))  // late for [0,10), on time for [5,15)
	must(t, in.Pipe("a", "x", at(3)))  // late for its only windows
	expect(t, windowed(t, out, false),
		"a@0/10=1", "a@5/15=1",
		"a@5/15=2", "a@10/20=1",
		"a@5/15=3", "a@10/20=2",
		"a@5/15=4")
	if m := d.Metrics(); m["dropped-records-late"] != 2 {
		t.Errorf("metrics %v: want 2 records late (for at least one window each)", m)
	}
}

func TestWindowedBadInput(t *testing.T) {
	b := stream.NewBuilder()
	countIn(t, b, stream.Tumbling(time.Minute), false)
	d := build(t, b)
	in := streamtest.Input(d, "clicks", serde.String, serde.String)
	must(t, in.PipeNullKey("x", at(1)))
	must(t, in.Tombstone("a", at(2)))
	if n := len(d.Messages("counts")); n != 0 {
		t.Errorf("%d outputs for null keys and values", n)
	}
	if m := d.Metrics(); m["dropped-records-null-key"] != 1 || m["dropped-records-null-value"] != 1 {
		t.Errorf("metrics %v", m)
	}

	for _, w := range []stream.TimeWindows{
		stream.Tumbling(0), stream.Hopping(time.Second, 2*time.Second), stream.Sliding(-time.Second),
		stream.Tumbling(time.Second).Grace(-1),
	} {
		b := stream.NewBuilder()
		countIn(t, b, w, false)
		if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "WindowedBy") {
			t.Errorf("%+v: build error %v", w, err)
		}
	}
	b = stream.NewBuilder()
	in2 := stream.From(b, "in", serde.String, serde.String)
	stream.GroupByKey(in2).SessionWindowedBy(stream.Sessions(0)).Count()
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "inactivity gap") {
		t.Errorf("Sessions(0): build error %v", err)
	}
}

// TestEmitFinalTumbling is the clickstream example's aggregation:
// per-minute counts with 10 s grace, one final result per window.
func TestEmitFinalTumbling(t *testing.T) {
	b := stream.NewBuilder()
	countIn(t, b, stream.Tumbling(time.Minute).Grace(10*time.Second), true, stream.Named("clicks-per-minute"))
	d := build(t, b)
	in := streamtest.Input(d, "clicks", serde.String, serde.String)
	out := streamtest.Output(d, "counts", stream.WindowedSerde(serde.String, time.Minute), serde.Int64)
	for _, s := range []int{1, 20, 59, 61} {
		must(t, in.Pipe("home", "x", at(s)))
	}
	must(t, in.Pipe("cart", "x", at(62)))
	must(t, in.Pipe("home", "x", at(55))) // within grace
	must(t, in.Pipe("cart", "x", at(69)))
	expect(t, windowed(t, out, true)) // nothing yet: [0,60) closes at 70
	must(t, in.Pipe("cart", "x", at(70)))
	expect(t, windowed(t, out, true), "home@0/60=4 ts=60")
	must(t, in.Pipe("home", "x", at(50))) // late: no second result for [0,60)
	must(t, in.Pipe("cart", "x", at(129)))
	expect(t, windowed(t, out, true))
	must(t, in.Pipe("home", "x", at(3600)))
	expect(t, windowed(t, out, true), "cart@60/120=3 ts=120", "home@60/120=1 ts=120", "cart@120/180=1 ts=180")
	if m := d.Metrics(); m["dropped-records-late"] != 1 {
		t.Errorf("metrics %v", m)
	}
	// The store keeps running aggregates, and expiry removed closed windows.
	if n := storeLen(t, d.Store("clicks-per-minute")); n != 1 {
		t.Errorf("store holds %d windows, want only the open one", n)
	}
}

// storeLen counts the entries of a store (windows, buffered records),
// not its meta key.
func storeLen(t *testing.T, kv state.KeyValue) int {
	t.Helper()
	if kv == nil {
		t.Fatal("no such store")
	}
	n := 0
	must(t, kv.Range(nil, nil, func(k, _ []byte) bool {
		if !state.IsMetaKey(k) {
			n++
		}
		return true
	}))
	return n
}

func TestEmitFinalHopping(t *testing.T) {
	b := stream.NewBuilder()
	countIn(t, b, stream.Hopping(10*time.Second, 5*time.Second), true)
	d := build(t, b)
	in := streamtest.Input(d, "clicks", serde.String, serde.String)
	out := streamtest.Output(d, "counts", stream.WindowedSerde(serde.String, 10*time.Second), serde.Int64)
	must(t, in.Pipe("a", "x", at(7)))
	must(t, in.Pipe("a", "x", at(9)))
	expect(t, windowed(t, out, false))
	must(t, in.Pipe("a", "x", at(10))) // closes [0,10)
	expect(t, windowed(t, out, false), "a@0/10=2")
	must(t, in.Pipe("a", "x", at(16))) // closes [5,15)
	must(t, in.Pipe("a", "x", at(40)))
	expect(t, windowed(t, out, false), "a@5/15=3", "a@10/20=2", "a@15/25=1")
}

func TestWindowedStoreAndDescribe(t *testing.T) {
	b := stream.NewBuilder()
	countIn(t, b, stream.Hopping(time.Minute, 10*time.Second).Grace(5*time.Second), false, stream.Named("hops"))
	topo, err := b.Build()
	must(t, err)
	desc := topo.Describe()
	for _, want := range []string{"(stores: [hops])", "changelog: hops-changelog"} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
	def := topo.Stores["hops"]
	if def.Kind.String() != "window" || def.Retention != 65*time.Second || !def.Logged {
		t.Errorf("store %+v: want a logged window store with retention size+grace", def)
	}
	d, err := streamtest.New(topo)
	must(t, err)
	defer d.Close()
	in := streamtest.Input(d, "clicks", serde.String, serde.String)
	must(t, in.Pipe("a", "x", at(0)))
	windows, progress := 0, 0
	for _, m := range d.Messages("streamtest-hops-changelog") {
		if state.IsMetaKey(m.Key) {
			progress++
		} else {
			windows++
		}
	}
	if windows != 6 || progress != 1 {
		t.Errorf("changelog has %d window and %d progress records, want one per window the record is in (6) and the commit's progress (1)", windows, progress)
	}
	// Windows expire as stream time passes: after ten minutes of records
	// the store holds only the windows within retention (+ half a step).
	for s := 1; s <= 600; s++ {
		must(t, in.Pipe("a", "x", at(s)))
	}
	if n := storeLen(t, d.Store("hops")); n > 6+10 {
		t.Errorf("store holds %d windows after 10 minutes", n)
	}

	b = stream.NewBuilder()
	in2 := stream.From(b, "in", serde.String, serde.String)
	stream.GroupByKey(in2).SessionWindowedBy(stream.Sessions(time.Minute).Grace(time.Second)).Count(stream.Named("sess"))
	topo, err = b.Build()
	must(t, err)
	if def := topo.Stores["sess"]; def.Kind.String() != "session" || def.Retention != 2*time.Minute+time.Second {
		t.Errorf("session store %+v", def)
	}
}

func TestWindowedSerdes(t *testing.T) {
	ws := stream.WindowedSerde(serde.String, time.Minute)
	w := stream.Windowed[string]{Key: "page/1", Window: stream.Window{Start: at(60), End: at(120)}}
	b, err := ws.Encode(w)
	must(t, err)
	if len(b) != len("page/1")+8 || string(b[:6]) != "page/1" {
		t.Fatalf("encoded %x", b)
	}
	if got, err := ws.Decode(b); err != nil || got != w {
		t.Errorf("round trip %v %v", got, err)
	}
	ss := stream.SessionWindowedSerde(serde.Int64)
	sw := stream.Windowed[int64]{Key: -7, Window: stream.Window{Start: at(3), End: at(90)}}
	b, err = ss.Encode(sw)
	must(t, err)
	if len(b) != 24 {
		t.Fatalf("encoded %x", b)
	}
	if got, err := ss.Decode(b); err != nil || got != sw {
		t.Errorf("session round trip %v %v", got, err)
	}
	if _, err := ss.Decode(b[:20]); err == nil {
		t.Error("a short session key decoded")
	}
	// A bytes key must not be overwritten by the appended times.
	bs := stream.WindowedSerde(serde.Bytes, time.Second)
	key := make([]byte, 2, 16)
	b1, _ := bs.Encode(stream.Windowed[[]byte]{Key: key, Window: stream.Window{Start: at(1)}})
	b2, _ := bs.Encode(stream.Windowed[[]byte]{Key: key, Window: stream.Window{Start: at(2)}})
	if slices.Equal(b1, b2) {
		t.Error("encodings share the key's buffer")
	}
}

func FuzzWindowedSerde(f *testing.F) {
	f.Add("k", int64(0), []byte{})
	f.Add("", int64(-1), []byte("12345678"))
	f.Add("page", int64(1)<<40, []byte("0123456789abcdef0123"))
	ws := stream.WindowedSerde(serde.String, time.Minute)
	ss := stream.SessionWindowedSerde(serde.String)
	f.Fuzz(func(t *testing.T, key string, startMs int64, raw []byte) {
		startMs %= 1 << 50 // within time.Time's millisecond range
		w := stream.Windowed[string]{Key: key, Window: stream.Window{Start: time.UnixMilli(startMs).UTC(), End: time.UnixMilli(startMs + 60000).UTC()}}
		for _, s := range []serde.Serde[stream.Windowed[string]]{ws, ss} {
			b, err := s.Encode(w)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.Decode(b); err != nil || got != w {
				t.Fatalf("round trip %v: %v %v", w, got, err)
			}
			s.Decode(raw) // arbitrary bytes: an error or a key, never a panic
		}
	})
}

// TestSlidingWindowsBruteForce checks sliding windows against their
// definition on random sequences: every record's left window [t-d, t],
// its right window [t+1, t+d+1] when a record is in it, each holding the
// sum of its key's records within its bounds.
func TestSlidingWindowsBruteForce(t *testing.T) {
	const d = 10 // ms
	for seed := int64(1); seed <= 30; seed++ {
		for _, final := range []bool{false, true} {
			rng := rand.New(rand.NewSource(seed))
			b := stream.NewBuilder()
			in := stream.From(b, "in", serde.String, serde.Int64)
			wg := stream.GroupByKey(in).WindowedBy(stream.Sliding(d * time.Millisecond).Grace(time.Hour))
			if final {
				wg = wg.EmitFinal()
			}
			stream.ToStream(wg.Reduce(func(a, v int64) int64 { return a + v })).To("sums")
			dr := build(t, b)
			pipe := streamtest.Input(dr, "in", serde.String, serde.Int64)
			type rec struct {
				key string
				ts  int64
				v   int64
			}
			var recs []rec
			for i := 0; i < 40; i++ {
				r := rec{key: []string{"a", "b"}[rng.Intn(2)], ts: int64(rng.Intn(60)), v: int64(1 + rng.Intn(100))}
				recs = append(recs, r)
				must(t, pipe.Pipe(r.key, r.v, atMs(r.ts)))
			}
			if final {
				must(t, pipe.Pipe("z", 0, atMs(2*time.Hour.Milliseconds()))) // closes every window
			}
			want := map[string]int64{}
			sum := func(key string, from, to int64) (n, s int64) {
				for _, r := range recs {
					if r.key == key && r.ts >= from && r.ts <= to {
						n, s = n+1, s+r.v
					}
				}
				return n, s
			}
			for _, r := range recs {
				_, s := sum(r.key, r.ts-d, r.ts)
				want[fmt.Sprintf("%s@%d", r.key, r.ts-d)] = s
				if n, s := sum(r.key, r.ts+1, r.ts+1+d); n > 0 {
					want[fmt.Sprintf("%s@%d", r.key, r.ts+1)] = s
				}
			}
			out := streamtest.Output(dr, "sums", stream.WindowedSerde(serde.String, d*time.Millisecond), serde.Int64)
			recsOut, err := out.ReadAll()
			must(t, err)
			got := map[string]int64{}
			for _, r := range recsOut {
				if r.Key.Key == "z" {
					continue
				}
				k := fmt.Sprintf("%s@%d", r.Key.Key, r.Key.Window.Start.Sub(t0).Milliseconds())
				if _, dup := got[k]; dup && final {
					t.Fatalf("seed %d: window %s emitted twice", seed, k)
				}
				got[k] = r.Value
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("seed %d final %v: records %v\ngot  %v\nwant %v", seed, final, recs, got, want)
			}
		}
	}
}

func TestSlidingWindowsLate(t *testing.T) {
	b := stream.NewBuilder()
	countIn(t, b, stream.Sliding(10*time.Second).Grace(5*time.Second), false)
	d := build(t, b)
	in := streamtest.Input(d, "clicks", serde.String, serde.String)
	out := streamtest.Output(d, "counts", stream.WindowedSerde(serde.String, 10*time.Second), serde.Int64)
	must(t, in.Pipe("a", "x", at(100)))
	must(t, in.Pipe("a", "x", at(104)))
	must(t, in.Pipe("a", "x", at(120))) // close time 115
	expect(t, windowed(t, out, false),
		"a@90/100=1",
		"a@100.001/110.001=1", "a@94/104=2", // 100's right window; 104's left window
		"a@110/120=1")
	// Close time 115: 112 updates the open [110,120] and gets its right
	// window; its left window and 104's right window have closed.
	must(t, in.Pipe("a", "x", at(112)))
	expect(t, windowed(t, out, false), "a@110/120=2", "a@112.001/122.001=1")
	must(t, in.Pipe("a", "x", at(90))) // every window of it has closed
	expect(t, windowed(t, out, false))
	if m := d.Metrics(); m["dropped-records-late"] != 2 {
		t.Errorf("metrics %v", m)
	}
}

func TestEmitFinalSliding(t *testing.T) {
	b := stream.NewBuilder()
	countIn(t, b, stream.Sliding(10*time.Second), true)
	d := build(t, b)
	in := streamtest.Input(d, "clicks", serde.String, serde.String)
	out := streamtest.Output(d, "counts", stream.WindowedSerde(serde.String, 10*time.Second), serde.Int64)
	must(t, in.Pipe("a", "x", at(0)))
	must(t, in.Pipe("a", "x", at(5)))
	must(t, in.Pipe("a", "x", at(5)))
	expect(t, windowed(t, out, true), "a@-10/0=1 ts=0") // closed at 5: 0 is its end
	must(t, in.Pipe("a", "x", at(12)))
	expect(t, windowed(t, out, true), "a@-5/5=3 ts=5", "a@0.001/10.001=2 ts=10.001")
	must(t, in.Pipe("a", "x", at(100)))
	expect(t, windowed(t, out, true), "a@2/12=3 ts=12", "a@5.001/15.001=1 ts=15.001")
}
