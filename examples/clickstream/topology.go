package main

import (
	"time"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

// Topics of the clickstream.
const (
	// ClicksTopic holds one record per click: key the user id, value a
	// JSON Click, timestamp the time of the click (event time).
	ClicksTopic = "clicks"
	// UsersTopic is a table of users: key the user id, value a JSON User.
	UsersTopic = "users"
	// OutputTopic gets one record per page and minute once the minute is
	// over: key "<page>@<minute start, RFC 3339>", value a JSON PageMinute.
	OutputTopic = "page-clicks-per-minute"
)

// The windows: a minute of clicks is counted once the stream time (the
// latest click time seen) is 10 s past its end, so clicks up to 10 s late
// still count; later ones are dropped (metric dropped-records-late).
const (
	WindowSize = time.Minute
	Grace      = 10 * time.Second
)

// Click is the value of a click record.
type Click struct {
	Page     string `json:"page"`
	Referrer string `json:"referrer,omitempty"`
}

// User is the value of a users record.
type User struct {
	Name   string `json:"name"`
	Region string `json:"region"`
}

// View is a click joined with its user's region ("unknown" when the user
// is not in the table).
type View struct {
	Page   string `json:"page"`
	Region string `json:"region"`
}

// Stats is the running aggregate of one page in one minute.
type Stats struct {
	Clicks  int64            `json:"clicks"`
	Regions map[string]int64 `json:"regions"`
}

// PageMinute is an output value: a page's clicks in one minute, in total
// and per region.
type PageMinute struct {
	Page    string           `json:"page"`
	Start   time.Time        `json:"start"`
	End     time.Time        `json:"end"`
	Clicks  int64            `json:"clicks"`
	Regions map[string]int64 `json:"regions"`
}

// Topology counts clicks per page and minute: clicks are joined with the
// users table (by user id, the key of both topics, which must have the
// same number of partitions), regrouped by page (through a repartition
// topic), counted in tumbling one-minute windows with 10 s of grace, and
// each window's final count is written once, when the window closes.
func Topology() (*stream.Topology, error) {
	b := stream.NewBuilder()
	clicks := stream.From(b, ClicksTopic, serde.String, serde.JSON[Click]())
	users := stream.TableFrom(b, UsersTopic, serde.String, serde.JSON[User](), stream.Named("users"))
	views := stream.LeftJoin(clicks, users, enrich, stream.Named("enrich"))
	byPage := stream.GroupBy(views, func(_ string, v View) string { return v.Page })
	minutes := byPage.WindowedBy(stream.Tumbling(WindowSize).Grace(Grace)).EmitFinal()
	stats := stream.AggregateWindowed(minutes, newStats, addView, stream.Named("page-minutes"), stream.WithValueSerde(serde.JSON[Stats]()))
	stream.Map(stream.ToStream(stats), result).To(OutputTopic)
	return b.Build()
}

func enrich(c Click, u *User) View {
	if u == nil {
		return View{Page: c.Page, Region: "unknown"}
	}
	return View{Page: c.Page, Region: u.Region}
}

func newStats() Stats { return Stats{Regions: map[string]int64{}} }

func addView(_ string, v View, s Stats) Stats {
	s.Clicks++
	s.Regions[v.Region]++
	return s
}

// OutputKey is the output key of a page's minute starting at start.
func OutputKey(page string, start time.Time) string {
	return page + "@" + start.UTC().Format(time.RFC3339)
}

func result(w stream.Windowed[string], s Stats) (string, PageMinute) {
	return OutputKey(w.Key, w.Window.Start), PageMinute{
		Page: w.Key, Start: w.Window.Start, End: w.Window.End, Clicks: s.Clicks, Regions: s.Regions,
	}
}
