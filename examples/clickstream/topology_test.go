package main

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream/serde"
	"github.com/runnel-io/runnel/stream/streamtest"
)

// t0 is a minute boundary; at(s) is s seconds after it.
var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

type clickstreamDriver struct {
	t      *testing.T
	d      *streamtest.Driver
	clicks *streamtest.InputTopic[string, Click]
	users  *streamtest.InputTopic[string, User]
	out    *streamtest.OutputTopic[string, PageMinute]
}

func newClickstreamDriver(t *testing.T) *clickstreamDriver {
	t.Helper()
	topo, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streamtest.New(topo, streamtest.AppID("clickstream"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &clickstreamDriver{
		t: t, d: d,
		clicks: streamtest.Input(d, ClicksTopic, serde.String, serde.JSON[Click]()),
		users:  streamtest.Input(d, UsersTopic, serde.String, serde.JSON[User]()),
		out:    streamtest.Output(d, OutputTopic, serde.String, serde.JSON[PageMinute]()),
	}
}

func (c *clickstreamDriver) click(user, page string, s float64) {
	c.t.Helper()
	if err := c.clicks.Pipe(user, Click{Page: page}, at(s)); err != nil {
		c.t.Fatal(err)
	}
}

// emitted returns the records written since the last call, by key.
func (c *clickstreamDriver) emitted() map[string]PageMinute {
	c.t.Helper()
	recs, err := c.out.ReadAll()
	if err != nil {
		c.t.Fatal(err)
	}
	m := map[string]PageMinute{}
	for _, r := range recs {
		if _, dup := m[r.Key]; dup {
			c.t.Errorf("%s emitted twice", r.Key)
		}
		m[r.Key] = r.Value
	}
	return m
}

func minute(page string, m int, clicks int64, regions map[string]int64) PageMinute {
	start := t0.Add(time.Duration(m) * time.Minute)
	return PageMinute{Page: page, Start: start, End: start.Add(time.Minute), Clicks: clicks, Regions: regions}
}

func checkEmitted(t *testing.T, got map[string]PageMinute, want ...PageMinute) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("emitted %d results, want %d: %v", len(got), len(want), got)
	}
	for _, w := range want {
		key := OutputKey(w.Page, w.Start)
		g, ok := got[key]
		if !ok {
			t.Errorf("%s: not emitted", key)
			continue
		}
		if g.Page != w.Page || !g.Start.Equal(w.Start) || !g.End.Equal(w.End) || g.Clicks != w.Clicks || !maps.Equal(g.Regions, w.Regions) {
			t.Errorf("%s: got %+v, want %+v", key, g, w)
		}
	}
}

func TestClickstreamCountsPerPageAndMinute(t *testing.T) {
	c := newClickstreamDriver(t)
	for id, u := range map[string]User{"ann": {"Ann", "eu"}, "bob": {"Bob", "us"}} {
		if err := c.users.Pipe(id, u, at(-5)); err != nil {
			t.Fatal(err)
		}
	}
	c.click("ann", "/home", 1)
	c.click("bob", "/home", 20)
	c.click("cid", "/home", 30) // not in the users table
	c.click("ann", "/docs", 59.999)
	c.click("bob", "/home", 60) // the first millisecond of minute 1
	c.click("ann", "/docs", 65)
	checkEmitted(t, c.emitted()) // minute 0 is open until 70 s (end + grace)

	c.click("bob", "/docs", 55)   // 10 s late: within grace, counts in minute 0
	c.click("ann", "/home", 69.9) // stream time 69.9: minute 0 still open
	checkEmitted(t, c.emitted())
	c.click("bob", "/docs", 70) // stream time 70 s: minute 0 closes
	checkEmitted(t, c.emitted(),
		minute("/home", 0, 3, map[string]int64{"eu": 1, "us": 1, "unknown": 1}),
		minute("/docs", 0, 2, map[string]int64{"eu": 1, "us": 1}),
	)

	c.click("ann", "/docs", 59) // stream time 70 s = 60 s + grace: too late
	if got := c.d.Metrics()["dropped-records-late"]; got != 1 {
		t.Errorf("dropped-records-late = %d, want 1 (metrics %v)", got, c.d.Metrics())
	}
	// A user that moves, and one deleted (a tombstone): later clicks see
	// the new row, or none.
	if err := c.users.Pipe("ann", User{"Ann", "apac"}, at(75)); err != nil {
		t.Fatal(err)
	}
	if err := c.users.Tombstone("bob", at(75)); err != nil {
		t.Fatal(err)
	}
	c.click("ann", "/home", 80)
	c.click("bob", "/home", 90)
	c.click("ann", "/home", 130) // stream time 130 s: minute 1 closes
	checkEmitted(t, c.emitted(),
		minute("/home", 1, 4, map[string]int64{"us": 1, "eu": 1, "apac": 1, "unknown": 1}),
		minute("/docs", 1, 2, map[string]int64{"eu": 1, "us": 1}),
	)
}

func TestClickstreamDescribe(t *testing.T) {
	topo, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	desc := topo.Describe()
	for _, want := range []string{"Sub-topology: 0", "Sub-topology: 1", "page-minutes-repartition", "users", "page-minutes"} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
}
