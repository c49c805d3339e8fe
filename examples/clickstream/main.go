// Command clickstream counts clicks per page and minute, joined with a
// table of users for a per-region breakdown: see README.md.
package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/examples/internal/launch"
	"github.com/runnel-io/runnel/stream/serde"
)

func main() {
	launch.Example{AppID: "clickstream", Rate: 20, Inputs: []string{ClicksTopic, UsersTopic}, Topology: Topology, Sides: sides}.Main()
}

func sides(f *launch.Flags) (string, []launch.Side) {
	printer := launch.Tail(OutputTopic, serde.String, serde.JSON[PageMinute](), formatResult)
	if !f.Generate {
		return fmt.Sprintf("printing the results written to %s.", OutputTopic), []launch.Side{printer}
	}
	g := &generator{rate: f.Rate, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))}
	return fmt.Sprintf("generating %d users into %q and %.0f clicks/s into %q; each minute's clicks per page "+
		"are printed from %q once the minute is over and its 10 s of grace have passed.",
		len(sampleUsers), UsersTopic, f.Rate, ClicksTopic, OutputTopic), []launch.Side{g.run, printer}
}

// formatResult prints a page's minute as
// "10:01-10:02 /pricing     12 clicks (apac 3, eu 5, us 4)".
func formatResult(_ *kgo.Record, _ string, m PageMinute) string {
	var regions []string
	for _, r := range slices.Sorted(maps.Keys(m.Regions)) {
		regions = append(regions, fmt.Sprintf("%s %d", r, m.Regions[r]))
	}
	return fmt.Sprintf("%s-%s %-10s %4d clicks (%s)", m.Start.Local().Format("15:04"), m.End.Local().Format("15:04"),
		m.Page, m.Clicks, strings.Join(regions, ", "))
}
