package main

import (
	"context"
	"errors"
	"fmt"
	rpt "github.com/runnel-io/runnel/benchmarks/internal/report"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/runnel-io/runnel/cluster"
)

// side is one broker under test, running in this process.
type side struct {
	name   string
	addr   string // a seed broker, host:port on 127.0.0.1
	config string // how it was started, for the report
	close  func()
	// versions is the broker's ApiVersions; pinned, the same for both
	// sides, is what every client is allowed to use (see pinVersions).
	versions, pinned *kversion.Versions
}

// startSides starts runnel and kfake and pins the clients' versions to
// what both support. Both always run, so that an -only run uses the same
// versions as a full one.
func startSides(ctx context.Context, p params, root string) ([]*side, error) {
	r, err := startRunnel(root)
	if err != nil {
		return nil, err
	}
	k, err := startKfake(p.kfakeBrokers)
	if err != nil {
		r.close()
		return nil, err
	}
	sides := []*side{r, k}
	if err := pinVersions(ctx, sides); err != nil {
		r.close()
		k.close()
		return nil, err
	}
	return sides, nil
}

// startRunnel runs runnel's broker with cluster.DefaultConfig, except
// that group.initial.rebalance.delay is 0: kfake has no such delay, and
// the figures time rebalances, not the first one's wait.
func startRunnel(root string) (*side, error) {
	cfg := cluster.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = root
	cfg.GroupInitialRebalanceDelay = 0
	cfg.Logger = logger
	b, err := cluster.New(cfg)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve() }()
	return &side{
		name: sideRunnel,
		addr: b.Addr().String(),
		config: fmt.Sprintf("`cluster.DefaultConfig()` with `GroupInitialRebalanceDelay = 0` (default 3 s), "+
			"group.min.session.timeout %s, data in %s, removed after the run (no fsync policy: the page cache)", rpt.Dur(cfg.GroupMinSessionTimeout), root),
		close: func() {
			b.Close()
			<-done
		},
	}, nil
}

// startKfake runs kfake as its users do: kfake.NewCluster with its
// defaults, except the number of brokers (one, like runnel, unless
// -kfake-brokers says otherwise).
func startKfake(brokers int) (*side, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(brokers))
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("`kfake.NewCluster(kfake.NumBrokers(%d))` (its default is 3 brokers), everything in memory; "+
		"no initial rebalance delay (kfake does not implement one), group.min.session.timeout 6 s (its default)", brokers)
	return &side{name: sideKfake, addr: c.ListenAddrs()[0], config: cfg, close: c.Close}, nil
}

// pinVersions asks each broker for its ApiVersions and pins every client
// to the highest version of each request that both support, so that the
// two sides see the same requests on the wire (kfake supports newer
// versions of several requests than runnel). Requests only one supports
// (client telemetry, KIP-714, is kfake's) are left out, so kgo does not
// send them.
func pinVersions(ctx context.Context, sides []*side) error {
	for _, s := range sides {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
		if err != nil {
			return err
		}
		resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
		cl.Close()
		if err != nil {
			return fmt.Errorf("%s: ApiVersions: %w", s.name, err)
		}
		s.versions = kversion.FromApiVersionsResponse(resp)
	}
	pinned := kversion.FromApiVersionsResponse(&kmsg.ApiVersionsResponse{})
	sides[0].versions.EachMaxKeyVersion(func(k, v int16) {
		for _, s := range sides[1:] {
			w, ok := s.versions.LookupMaxKeyVersion(k)
			if !ok {
				return
			}
			v = min(v, w)
		}
		pinned.SetMaxKeyVersion(k, v)
	})
	for _, s := range sides {
		s.pinned = pinned
	}
	return nil
}

// pinnedVersionsNote says which requests the pin holds below a broker's
// own maximum, for the report.
func pinnedVersionsNote(sides []*side) string {
	keys := []int16{1, 8, 9, 10, 11, 12, 13, 14}
	var parts []string
	for _, k := range keys {
		v, _ := sides[0].pinned.LookupMaxKeyVersion(k)
		var own []string
		for _, s := range sides {
			w, _ := s.versions.LookupMaxKeyVersion(k)
			own = append(own, fmt.Sprintf("%s v%d", s.name, w))
		}
		parts = append(parts, fmt.Sprintf("%s v%d (%s)", kmsg.NameForKey(k), v, strings.Join(own, ", ")))
	}
	var only []string
	for _, s := range sides {
		s.versions.EachMaxKeyVersion(func(k, _ int16) {
			if _, ok := s.pinned.LookupMaxKeyVersion(k); !ok {
				only = append(only, fmt.Sprintf("%s (%s only)", kmsg.NameForKey(k), s.name))
			}
		})
	}
	sort.Strings(only)
	note := "clients pinned to the highest version both brokers support: " + strings.Join(parts, "; ")
	if len(only) > 0 {
		note += fmt.Sprintf("; not used: %d requests one broker lacks, e.g. %s", len(only), strings.Join(only[:min(len(only), 4)], ", "))
	}
	return note
}

// describe is the side's line in the report.
func (s *side) describe() string { return s.name + ": " + s.config }

// clientOpts are the options every client of a side starts from.
func (s *side) clientOpts() []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(s.addr), kgo.MaxVersions(s.pinned)}
}

// createTopic creates a topic with n partitions, or does nothing if it
// exists.
func (s *side) createTopic(ctx context.Context, name string, n int32) error {
	cl, err := kgo.NewClient(s.clientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, n, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("%s: create topic %s: %w", s.name, name, err)
	}
	return nil
}

// measured reports whether the run measures s (see -only).
func (p params) measured(s *side) bool { return p.only == "" || p.only == s.name }
