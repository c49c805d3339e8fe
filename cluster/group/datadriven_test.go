package group

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestDataDriven runs the transcripts in testdata/. Each command feeds the
// group one input and prints what came out: the direct answer, every
// response (by request id), every event, what is to be stored, and the
// resulting state. Regenerate with go test -rewrite.
//
//	config [delay=0s] [min-session=1s] [max-session=30m] [max-members=N]
//	        a new group at time 0 (delay defaults to 0)
//	join req=N client=C [member=ID] [instance=I] [type=consumer]
//	     [protocols=(name:meta, ...)] [session=10s] [rebalance=20s] [v3] [reason=R]
//	sync req=N member=ID gen=G [instance=I] [type=T] [protocol=P] [assign=(id:bytes, ...)]
//	heartbeat member=ID gen=G [instance=I]
//	leave [member=ID] [instance=I] [members=(id, ...)] [reason=R]
//	commit [member=ID] [instance=I] gen=G
//	tick D        advance the clock by D, then Tick
//	describe | snapshot | restore | delete
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{}
		h.reset(Config{MinSessionTimeout: time.Second, MaxSessionTimeout: 30 * time.Minute, MaxMembers: 100})
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.run(t, d)
		})
	})
}

type harness struct {
	cfg   Config
	g     *Group
	start time.Time
	now   time.Time
}

func (h *harness) reset(cfg Config) {
	h.cfg = cfg
	h.start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h.now = h.start
	h.g = New(cfg, h.now)
}

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	var b strings.Builder
	switch d.Cmd {
	case "config":
		cfg := h.cfg
		cfg.InitialRebalanceDelay = durArg(t, d, "delay", 0)
		cfg.MinSessionTimeout = durArg(t, d, "min-session", time.Second)
		cfg.MaxSessionTimeout = durArg(t, d, "max-session", 30*time.Minute)
		cfg.MaxMembers = intArg(t, d, "max-members", 100)
		h.reset(cfg)
	case "join":
		h.g.Join(h.now, h.joinArg(t, d))
	case "sync":
		h.g.Sync(h.now, syncArg(t, d))
	case "heartbeat":
		err := h.g.Heartbeat(h.now, Heartbeat{MemberID: strArg(d, "member", ""),
			InstanceID: strArg(d, "instance", ""), Generation: int32(intArg(t, d, "gen", 0))})
		fmt.Fprintf(&b, "-> %s\n", errName(err))
	case "leave":
		errs := h.g.Leave(h.now, leaveArg(d))
		for _, err := range errs {
			fmt.Fprintf(&b, "-> %s\n", errName(err))
		}
	case "commit":
		err := h.g.CheckCommit(strArg(d, "member", ""), strArg(d, "instance", ""), int32(intArg(t, d, "gen", -1)))
		fmt.Fprintf(&b, "-> %s\n", errName(err))
	case "tick":
		if len(d.CmdArgs) != 1 {
			t.Fatalf("%s: tick DURATION", d.Pos)
		}
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			t.Fatalf("%s: %v", d.Pos, err)
		}
		h.now = h.now.Add(dur)
		h.g.Tick(h.now)
	case "delete":
		fmt.Fprintf(&b, "-> %s\n", errName(h.g.Delete(h.now)))
	case "describe":
		printDescription(&b, h.g.Describe())
	case "snapshot":
		printSnapshot(&b, "", h.g.Snapshot(), h.start)
	case "restore":
		h.g = Restore(h.cfg, h.g.Snapshot(), h.now)
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	h.printReady(&b, h.g.Ready())
	fmt.Fprintf(&b, "state: %v gen=%d", h.g.State(), h.g.Generation())
	if h.g.NumMembers() > 0 {
		fmt.Fprintf(&b, " leader=%s members=%d", h.g.leader, h.g.NumMembers())
	}
	b.WriteString("\n")
	return b.String()
}

func (h *harness) joinArg(t *testing.T, d *datadriven.TestData) Join {
	j := Join{
		Req:                  RequestID(intArg(t, d, "req", 0)),
		MemberID:             strArg(d, "member", ""),
		InstanceID:           strArg(d, "instance", ""),
		ClientID:             strArg(d, "client", "c"),
		ClientHost:           "/127.0.0.1",
		ProtocolType:         strArg(d, "type", "consumer"),
		SessionTimeout:       durArg(t, d, "session", 10*time.Second),
		RebalanceTimeout:     durArg(t, d, "rebalance", 20*time.Second),
		RequireKnownMemberID: !d.HasArg("v3"),
		Reason:               strArg(d, "reason", ""),
	}
	protos := []string{"range"}
	if a, ok := d.Arg("protocols"); ok {
		protos = a.Vals
	}
	for _, p := range protos {
		if p == "" {
			continue
		}
		name, meta, _ := strings.Cut(p, ":")
		if size, ok := strings.CutPrefix(meta, "bytes"); ok { // protocols=(range:bytes1048577)
			n, _ := strconv.Atoi(size)
			j.Protocols = append(j.Protocols, Protocol{Name: name, Metadata: make([]byte, n)})
			continue
		}
		j.Protocols = append(j.Protocols, Protocol{Name: name, Metadata: []byte(meta)})
	}
	return j
}

func syncArg(t *testing.T, d *datadriven.TestData) Sync {
	s := Sync{
		Req:        RequestID(intArg(t, d, "req", 0)),
		MemberID:   strArg(d, "member", ""),
		InstanceID: strArg(d, "instance", ""),
		Generation: int32(intArg(t, d, "gen", 0)),
	}
	if d.HasArg("type") {
		v := strArg(d, "type", "")
		s.ProtocolType = &v
	}
	if d.HasArg("protocol") {
		v := strArg(d, "protocol", "")
		s.Protocol = &v
	}
	if a, ok := d.Arg("assign"); ok {
		for _, v := range a.Vals {
			id, as, _ := strings.Cut(v, ":")
			if size, ok := strings.CutPrefix(as, "bytes"); ok {
				n, _ := strconv.Atoi(size)
				s.Assignments = append(s.Assignments, MemberAssignment{MemberID: id, Assignment: make([]byte, n)})
				continue
			}
			s.Assignments = append(s.Assignments, MemberAssignment{MemberID: id, Assignment: []byte(as)})
		}
	}
	return s
}

func leaveArg(d *datadriven.TestData) []LeaveMember {
	if a, ok := d.Arg("members"); ok {
		var ms []LeaveMember
		for _, id := range a.Vals {
			ms = append(ms, LeaveMember{MemberID: id, Reason: strArg(d, "reason", "")})
		}
		return ms
	}
	return []LeaveMember{{MemberID: strArg(d, "member", ""), InstanceID: strArg(d, "instance", ""), Reason: strArg(d, "reason", "")}}
}

func (h *harness) printReady(b *strings.Builder, rd Ready) {
	for _, r := range rd.Responses {
		switch {
		case r.Join != nil:
			fmt.Fprintf(b, "join %d: %s\n", r.Req, joinString(r.Join))
		case r.Sync != nil:
			fmt.Fprintf(b, "sync %d: %s\n", r.Req, syncString(r.Sync))
		}
	}
	for _, e := range rd.Events {
		fmt.Fprintf(b, "event: %s\n", eventString(e))
	}
	if rd.Store != nil {
		printSnapshot(b, "store: ", *rd.Store, h.start)
	}
	if rd.Tombstone {
		b.WriteString("store: tombstone\n")
	}
}

func joinString(r *JoinResult) string {
	if r.Err != nil {
		return fmt.Sprintf("%s member=%s gen=%d", errName(r.Err), r.MemberID, r.Generation)
	}
	s := fmt.Sprintf("ok member=%s gen=%d leader=%s protocol=%s/%s", r.MemberID, r.Generation, r.Leader, r.ProtocolType, r.Protocol)
	if r.SkipAssignment {
		s += " skip-assignment"
	}
	if len(r.Members) > 0 {
		var ms []string
		for _, m := range r.Members {
			id := m.MemberID
			if m.InstanceID != "" {
				id += "(" + m.InstanceID + ")"
			}
			ms = append(ms, id+":"+short(m.Metadata))
		}
		s += " members=(" + strings.Join(ms, ", ") + ")"
	}
	return s
}

func syncString(r *SyncResult) string {
	if r.Err != nil {
		return errName(r.Err)
	}
	return fmt.Sprintf("ok protocol=%s/%s assignment=%s", r.ProtocolType, r.Protocol, short(r.Assignment))
}

func eventString(e Event) string {
	s := e.Kind.String()
	if e.Cause != CauseNone {
		s += " cause=" + e.Cause.String()
	}
	if e.Member != "" {
		s += " member=" + e.Member
	}
	if e.InstanceID != "" {
		s += " instance=" + e.InstanceID
	}
	if e.Previous != "" {
		s += fmt.Sprintf(" previous=%s rebalance=%v", e.Previous, e.Rebalance)
	}
	if e.Reason != "" {
		s += fmt.Sprintf(" reason=%q", e.Reason)
	}
	s += fmt.Sprintf(" gen=%d", e.Generation)
	if e.Leader != "" {
		s += " leader=" + e.Leader + " protocol=" + e.Protocol
	}
	if len(e.Members) > 0 {
		s += " members=(" + strings.Join(e.Members, ", ") + ")"
	}
	if e.Kind == RebalanceCompleted || e.Kind == GroupEmpty {
		s += " before=" + assignString(e.Before)
		if e.Kind == RebalanceCompleted {
			s += " after=" + assignString(e.After)
		}
	}
	return s
}

func assignString(as []MemberAssignment) string {
	var parts []string
	for _, a := range as {
		parts = append(parts, a.MemberID+":"+short(a.Assignment))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func printSnapshot(b *strings.Builder, prefix string, s Snapshot, start time.Time) {
	fmt.Fprintf(b, "%sgen=%d type=%s protocol=%s leader=%s since=%v\n", prefix, s.Generation, s.ProtocolType,
		s.Protocol, s.Leader, s.StateSince.Sub(start))
	for _, m := range s.Members {
		fmt.Fprintf(b, "%s  %s instance=%s client=%s session=%v rebalance=%v metadata=%s assignment=%s\n", prefix,
			m.MemberID, m.InstanceID, m.ClientID, m.SessionTimeout, m.RebalanceTimeout, short(m.Metadata), short(m.Assignment))
	}
}

func printDescription(b *strings.Builder, d Description) {
	fmt.Fprintf(b, "describe: %v type=%s protocol=%s\n", d.State, d.ProtocolType, d.Protocol)
	for _, m := range d.Members {
		fmt.Fprintf(b, "  %s instance=%s client=%s host=%s metadata=%s assignment=%s\n", m.MemberID, m.InstanceID,
			m.ClientID, m.ClientHost, short(m.Metadata), short(m.Assignment))
	}
}

// short prints test metadata as text, and big or binary blobs by size.
func short(p []byte) string {
	if len(p) > 32 || strings.ContainsRune(string(p), 0) {
		return fmt.Sprintf("<%d bytes>", len(p))
	}
	if len(p) == 0 {
		return "-"
	}
	return string(p)
}

func errName(err *kerr.Error) string {
	if err == nil {
		return "ok"
	}
	return err.Message
}

func strArg(d *datadriven.TestData, key, def string) string {
	if a, ok := d.Arg(key); ok {
		if len(a.Vals) == 0 {
			return ""
		}
		return a.Vals[0]
	}
	return def
}

func intArg(t *testing.T, d *datadriven.TestData, key string, def int) int {
	if a, ok := d.Arg(key); ok {
		n, err := strconv.Atoi(a.Vals[0])
		if err != nil {
			t.Fatalf("%s: %s: %v", d.Pos, key, err)
		}
		return n
	}
	return def
}

func durArg(t *testing.T, d *datadriven.TestData, key string, def time.Duration) time.Duration {
	if a, ok := d.Arg(key); ok {
		v, err := time.ParseDuration(a.Vals[0])
		if err != nil {
			t.Fatalf("%s: %s: %v", d.Pos, key, err)
		}
		return v
	}
	return def
}
