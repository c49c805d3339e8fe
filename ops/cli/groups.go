package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// brokersEnv names the environment variable that sets --brokers.
const brokersEnv = envPrefix + "BROKERS"

const groupsLong = `groups shows and manages consumer groups, talking to a broker over the
Kafka protocol (any Kafka-compatible broker, not only runnel), as Kafka's
kafka-consumer-groups.sh does.

  runnel groups list                      every group: state, protocol, members
  runnel groups describe GROUP            members and their partitions, then
                                          committed offset, log end offset and
                                          lag per partition
  runnel groups reset-offsets GROUP ...   move a stopped group's offsets
  runnel groups delete GROUP              delete a stopped group and its offsets

--brokers (or RUNNEL_BROKERS) is a comma-separated list of host:port.`

// groupsSettings are the flags every groups command shares.
type groupsSettings struct {
	brokers string
	timeout time.Duration
	environ func() []string
}

func newGroupsCommand() *cobra.Command { return newGroupsCommandEnv(os.Environ) }

// newGroupsCommandEnv reads RUNNEL_BROKERS through environ, so that tests
// need not change the process's environment.
func newGroupsCommandEnv(environ func() []string) *cobra.Command {
	s := &groupsSettings{environ: environ}
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List, describe, reset and delete consumer groups",
		Long:  groupsLong,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&s.brokers, "brokers", "127.0.0.1:9092", "comma-separated `host:port` list of brokers to bootstrap from; also "+brokersEnv)
	pf.DurationVar(&s.timeout, "timeout", 30*time.Second, "give up on the brokers after this long")
	cmd.AddCommand(newGroupsListCommand(s), newGroupsDescribeCommand(s),
		newGroupsResetCommand(s), newGroupsDeleteCommand(s))
	return cmd
}

// groupsClient is an admin client of the brokers, for one command.
type groupsClient struct {
	adm     *kadm.Client
	brokers []string
}

// connect returns an admin client and a context bounded by --timeout. The
// caller closes the client and cancels the context.
func (s *groupsSettings) connect(cmd *cobra.Command) (*groupsClient, context.Context, context.CancelFunc, error) {
	list := s.brokers
	if !cmd.Flags().Changed("brokers") {
		for _, kv := range s.environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && k == brokersEnv && v != "" {
				list = v
			}
		}
	}
	var brokers []string
	for _, b := range strings.Split(list, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, nil, nil, errors.New("--brokers: no broker given")
	}
	if s.timeout <= 0 {
		return nil, nil, nil, fmt.Errorf("--timeout %v must be positive", s.timeout)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("runnel-groups"),
		kgo.DialTimeout(min(s.timeout, 10*time.Second)))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--brokers %s: %w", list, err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), s.timeout)
	return &groupsClient{adm: kadm.NewClient(cl), brokers: brokers}, ctx, cancel, nil
}

func (c *groupsClient) close() { c.adm.Close() }

// wrap says which brokers an error came from, and that a deadline was
// --timeout's.
func (c *groupsClient) wrap(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer from %s within --timeout: %w", what, strings.Join(c.brokers, ","), err)
	}
	return fmt.Errorf("%s (brokers %s): %w", what, strings.Join(c.brokers, ","), err)
}

// withClient runs fn with a connected client.
func (s *groupsSettings) withClient(cmd *cobra.Command, fn func(ctx context.Context, c *groupsClient) error) error {
	c, ctx, cancel, err := s.connect(cmd)
	if err != nil {
		return err
	}
	defer cancel()
	defer c.close()
	return fn(ctx, c)
}

// ---------------------------------------------------------------------------
// list

func newGroupsListCommand(s *groupsSettings) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every consumer group with its state, protocol and member count",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return s.withClient(cmd, func(ctx context.Context, c *groupsClient) error {
				return c.list(ctx, cmd.OutOrStdout())
			})
		},
	}
}

func (c *groupsClient) list(ctx context.Context, out io.Writer) error {
	listed, err := c.adm.ListGroups(ctx)
	if err != nil {
		return c.wrap("list groups", err)
	}
	names := listed.Groups()
	if len(names) == 0 {
		_, err := fmt.Fprintln(out, "No consumer groups.")
		return err
	}
	described, err := c.adm.DescribeGroups(ctx, names...)
	if err != nil {
		return c.wrap("describe groups", err)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GROUP\tSTATE\tPROTOCOL-TYPE\tPROTOCOL\tMEMBERS")
	for _, l := range listed.Sorted() {
		d, ok := described[l.Group]
		state, protocol, members := l.State, "-", "?"
		if ok && d.Err == nil {
			// Describe ran after List: its view is the newer one.
			state, members = d.State, strconv.Itoa(len(d.Members))
			protocol = dash(d.Protocol)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", l.Group, dash(state), dash(l.ProtocolType), protocol, members)
	}
	return w.Flush()
}

// ---------------------------------------------------------------------------
// describe

func newGroupsDescribeCommand(s *groupsSettings) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's members, and committed offset, log end offset and lag per partition",
		Long: `describe shows one consumer group: its state and assignment protocol; its
members (member id, client id, host, assigned partitions); then one line per
partition the group is assigned or has committed offsets for: the committed
offset, the partition's log end offset, the lag between them, and the member
that owns it ("-" for none). As kafka-consumer-groups.sh --describe, a
partition with no committed offset shows "-" for both offset and lag.
Assignments are known only while the group is Stable.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return s.withClient(cmd, func(ctx context.Context, c *groupsClient) error {
				return c.describe(ctx, cmd.OutOrStdout(), args[0])
			})
		},
	}
}

func (c *groupsClient) describe(ctx context.Context, out io.Writer, group string) error {
	lags, err := c.adm.Lag(ctx, group)
	if err != nil {
		return c.wrap("describe group "+group, err)
	}
	l, ok := lags[group]
	if !ok {
		return c.wrap("describe group "+group, errors.New("not in the broker's answer"))
	}
	if err := l.Error(); err != nil {
		return c.wrap("describe group "+group, err)
	}
	if l.State == "Dead" {
		return fmt.Errorf("group %q does not exist", group)
	}
	protocol := l.ProtocolType
	if l.Protocol != "" {
		protocol += "/" + l.Protocol
	}
	fmt.Fprintf(out, "Group %s: state %s, protocol %s, %d members, coordinator %d (%s:%d)\n\n",
		group, l.State, dash(protocol), len(l.Members), l.Coordinator.NodeID, l.Coordinator.Host, l.Coordinator.Port)
	if len(l.Members) == 0 {
		fmt.Fprintf(out, "Group %s has no active members.\n\n", group)
	} else if err := writeMembers(out, group, l.Members); err != nil {
		return err
	}
	return writeLag(out, group, l.Lag)
}

// writeMembers is kafka-consumer-groups.sh --members --verbose.
func writeMembers(out io.Writer, group string, members []kadm.DescribedGroupMember) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GROUP\tCONSUMER-ID\tINSTANCE-ID\tHOST\tCLIENT-ID\t#PARTITIONS\tASSIGNMENT")
	for _, m := range members {
		n, assigned := 0, "-"
		if a, ok := m.Assigned.AsConsumer(); ok {
			var parts []string
			for _, t := range a.Topics {
				ps := slices.Clone(t.Partitions)
				slices.Sort(ps)
				n += len(ps)
				parts = append(parts, t.Topic+"("+joinInt32(ps)+")")
			}
			slices.Sort(parts)
			if len(parts) > 0 {
				assigned = strings.Join(parts, ",")
			}
		}
		instance := "-"
		if m.InstanceID != nil {
			instance = *m.InstanceID
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", group, m.MemberID, instance, dash(m.ClientHost), dash(m.ClientID), n, assigned)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(out)
	return err
}

// writeLag is kafka-consumer-groups.sh --describe (--offsets).
func writeLag(out io.Writer, group string, lag kadm.GroupLag) error {
	rows := lag.Sorted()
	if len(rows) == 0 {
		_, err := fmt.Fprintf(out, "Group %s has no assigned partitions and no committed offsets.\n", group)
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID")
	for _, r := range rows {
		current, end, lagS := "-", "-", "-"
		if r.Commit.At >= 0 {
			current = strconv.FormatInt(r.Commit.At, 10)
		}
		if r.End.Err == nil {
			end = strconv.FormatInt(r.End.Offset, 10)
		}
		if r.Commit.At >= 0 && r.Err == nil {
			lagS = strconv.FormatInt(r.Lag, 10)
		}
		member, host, client := "-", "-", "-"
		if r.Member != nil {
			member, host, client = r.Member.MemberID, dash(r.Member.ClientHost), dash(r.Member.ClientID)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", group, r.Topic, r.Partition, current, end, lagS, member, host, client)
	}
	return w.Flush()
}

// ---------------------------------------------------------------------------
// delete

func newGroupsDeleteCommand(s *groupsSettings) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP",
		Short: "Delete a group that has no members, with its committed offsets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return s.withClient(cmd, func(ctx context.Context, c *groupsClient) error {
				return c.delete(ctx, cmd.OutOrStdout(), args[0])
			})
		},
	}
}

func (c *groupsClient) delete(ctx context.Context, out io.Writer, group string) error {
	r, err := c.adm.DeleteGroup(ctx, group)
	if err == nil {
		err = r.Err
	}
	switch {
	case errors.Is(err, kerr.NonEmptyGroup):
		return fmt.Errorf("group %q still has members: stop its consumers, then delete it (%w)", group, err)
	case errors.Is(err, kerr.GroupIDNotFound):
		return fmt.Errorf("group %q does not exist (%w)", group, err)
	case err != nil:
		return c.wrap("delete group "+group, err)
	}
	_, err = fmt.Fprintf(out, "Deleted group %s and its committed offsets.\n", group)
	return err
}

func partitionsN(n int) string {
	if n == 1 {
		return "1 partition"
	}
	return strconv.Itoa(n) + " partitions"
}

// dash shows an empty value as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinInt32(ps []int32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// ---------------------------------------------------------------------------
// reset-offsets

// resetSettings are reset-offsets' own flags.
type resetSettings struct {
	topics               []string
	toEarliest, toLatest bool
	toDatetime           string
	toOffset             int64
	execute              bool
	toOffsetSet          bool // --to-offset was given (0 is an offset)
}

const resetLong = `reset-offsets sets a consumer group's committed offsets on the named
topics' partitions, as kafka-consumer-groups.sh --reset-offsets does. It is a
dry run unless --execute is given: it prints, per partition, the offset now
committed and the one it would commit.

Exactly one target:
  --to-earliest          the partition's log start offset
  --to-latest            the partition's log end offset (skip everything)
  --to-datetime TIME     the first offset whose timestamp is at or after TIME
                         (RFC 3339, e.g. 2024-05-01T12:00:00Z); the log end
                         offset if there is none
  --to-offset N          N, moved into [log start, log end] if outside it

--topic T resets every partition of T; --topic T:0,2 only partitions 0 and
2. It may be repeated.

The group must have no members (state Empty, or unknown to the broker): a
running consumer would overwrite the new offsets with its own at its next
commit. Stop the group's consumers first.`

func newGroupsResetCommand(s *groupsSettings) *cobra.Command {
	r := &resetSettings{}
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic T (--to-earliest|--to-latest|--to-datetime TIME|--to-offset N) [--execute]",
		Short: "Reset a stopped group's committed offsets (a dry run unless --execute)",
		Long:  resetLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.toOffsetSet = cmd.Flags().Changed("to-offset")
			plan, err := r.validate()
			if err != nil {
				return err
			}
			return s.withClient(cmd, func(ctx context.Context, c *groupsClient) error {
				return c.reset(ctx, cmd.OutOrStdout(), args[0], plan)
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&r.topics, "topic", nil, "`topic` to reset, or topic:p,p,... for some partitions (repeatable; required)")
	f.BoolVar(&r.toEarliest, "to-earliest", false, "reset to each partition's log start offset")
	f.BoolVar(&r.toLatest, "to-latest", false, "reset to each partition's log end offset")
	f.StringVar(&r.toDatetime, "to-datetime", "", "reset to the first offset at or after this RFC 3339 `time`")
	f.Int64Var(&r.toOffset, "to-offset", 0, "reset to this `offset` (clamped to the partition's range)")
	f.BoolVar(&r.execute, "execute", false, "commit the new offsets (without it, only print the plan)")
	return cmd
}

// resetTarget is how new offsets are chosen.
type resetTarget int8

const (
	toEarliest resetTarget = iota
	toLatest
	toDatetime
	toOffset
)

// resetPlan is a validated reset-offsets command line.
type resetPlan struct {
	target     resetTarget
	atMs       int64 // toDatetime
	offset     int64 // toOffset
	partitions map[string][]int32
	execute    bool
}

func (r *resetSettings) validate() (resetPlan, error) {
	p := resetPlan{execute: r.execute, partitions: map[string][]int32{}}
	n := 0
	if r.toEarliest {
		n, p.target = n+1, toEarliest
	}
	if r.toLatest {
		n, p.target = n+1, toLatest
	}
	if r.toDatetime != "" {
		t, err := time.Parse(time.RFC3339Nano, r.toDatetime)
		if err != nil {
			return p, fmt.Errorf("--to-datetime %q: want RFC 3339, like 2024-05-01T12:00:00Z: %w", r.toDatetime, err)
		}
		n, p.target, p.atMs = n+1, toDatetime, t.UnixMilli()
	}
	if r.toOffsetSet {
		if r.toOffset < 0 {
			return p, fmt.Errorf("--to-offset %d is negative", r.toOffset)
		}
		n, p.target, p.offset = n+1, toOffset, r.toOffset
	}
	if n != 1 {
		return p, errors.New("give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset")
	}
	if len(r.topics) == 0 {
		return p, errors.New("--topic is required")
	}
	for _, spec := range r.topics {
		topic, list, hasList := strings.Cut(spec, ":")
		if topic == "" {
			return p, fmt.Errorf("--topic %q: no topic name", spec)
		}
		if _, dup := p.partitions[topic]; dup {
			return p, fmt.Errorf("--topic %q: topic %s given twice", spec, topic)
		}
		p.partitions[topic] = nil // every partition
		if !hasList {
			continue
		}
		ps := []int32{}
		for _, f := range strings.Split(list, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil || n < 0 {
				return p, fmt.Errorf("--topic %q: %q is not a partition number", spec, f)
			}
			ps = append(ps, int32(n))
		}
		p.partitions[topic] = ps
	}
	return p, nil
}

// resetRow is one partition of a reset: what is committed and what will be.
type resetRow struct {
	topic      string
	partition  int32
	current    int64 // -1: none committed
	next       int64
	start, end int64
}

func (c *groupsClient) reset(ctx context.Context, out io.Writer, group string, plan resetPlan) error {
	if err := c.requireInactive(ctx, group); err != nil {
		return err
	}
	rows, err := c.resetRows(ctx, group, plan)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET\tLOG-START-OFFSET\tLOG-END-OFFSET")
	for _, r := range rows {
		current := "-"
		if r.current >= 0 {
			current = strconv.FormatInt(r.current, 10)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\t%d\t%d\n", group, r.topic, r.partition, current, r.next, r.start, r.end)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !plan.execute {
		_, err := fmt.Fprintf(out, "\nDry run: nothing was committed. Add --execute to commit the new offsets of %s.\n", partitionsN(len(rows)))
		return err
	}
	var os kadm.Offsets
	for _, r := range rows {
		os.Add(kadm.Offset{Topic: r.topic, Partition: r.partition, At: r.next, LeaderEpoch: -1})
	}
	resps, err := c.adm.CommitOffsets(ctx, group, os)
	if err != nil {
		return c.wrap("commit offsets of "+group, err)
	}
	if err := resps.Error(); err != nil {
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
			return fmt.Errorf("group %q gained members while resetting: nothing may be committed; stop its consumers and retry (%w)", group, err)
		}
		return c.wrap("commit offsets of "+group, err)
	}
	_, err = fmt.Fprintf(out, "\nCommitted the new offsets of %s for group %s.\n", partitionsN(len(rows)), group)
	return err
}

// requireInactive refuses a group that has members, as Kafka's tool does:
// a member's next commit would undo the reset.
func (c *groupsClient) requireInactive(ctx context.Context, group string) error {
	ds, err := c.adm.DescribeGroups(ctx, group)
	if err != nil {
		return c.wrap("describe group "+group, err)
	}
	d, ok := ds[group]
	if !ok {
		return c.wrap("describe group "+group, errors.New("not in the broker's answer"))
	}
	if d.Err != nil {
		return c.wrap("describe group "+group, d.Err)
	}
	if d.State != "Empty" && d.State != "Dead" {
		return fmt.Errorf("group %q is %s with %d members: offsets can only be reset while the group is Empty (stop its consumers first)",
			group, d.State, len(d.Members))
	}
	return nil
}

// resetRows lists the partitions to reset with their current and new
// offsets, sorted by topic and partition.
func (c *groupsClient) resetRows(ctx context.Context, group string, plan resetPlan) ([]resetRow, error) {
	topics := make([]string, 0, len(plan.partitions))
	for t := range plan.partitions {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	starts, err := c.listed(ctx, "log start offsets", c.adm.ListStartOffsets, topics)
	if err != nil {
		return nil, err
	}
	ends, err := c.listed(ctx, "log end offsets", c.adm.ListEndOffsets, topics)
	if err != nil {
		return nil, err
	}
	var times kadm.ListedOffsets
	if plan.target == toDatetime {
		byTime := func(ctx context.Context, ts ...string) (kadm.ListedOffsets, error) {
			return c.adm.ListOffsetsAfterMilli(ctx, plan.atMs, ts...)
		}
		if times, err = c.listed(ctx, "offsets by time", byTime, topics); err != nil {
			return nil, err
		}
	}
	committed, err := c.adm.FetchOffsetsForTopics(ctx, group, topics...)
	if err != nil {
		return nil, c.wrap("fetch committed offsets of "+group, err)
	}
	var rows []resetRow
	for _, topic := range topics {
		ps := plan.partitions[topic]
		if ps == nil {
			for p := range ends[topic] {
				ps = append(ps, p)
			}
		}
		slices.Sort(ps)
		for _, p := range ps {
			row, err := resetRowOf(topic, p, plan, starts, ends, times, committed)
			if err != nil {
				return nil, err
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// listed runs one ListOffsets listing and turns a missing topic into an
// error that names it.
func (c *groupsClient) listed(ctx context.Context, what string, fn func(context.Context, ...string) (kadm.ListedOffsets, error), topics []string) (kadm.ListedOffsets, error) {
	l, err := fn(ctx, topics...)
	if err != nil {
		return nil, c.wrap("list "+what, err)
	}
	for _, t := range topics {
		if bad, ok := l[t][-1]; ok && bad.Err != nil {
			return nil, fmt.Errorf("topic %q: %w", t, bad.Err)
		}
		if len(l[t]) == 0 {
			return nil, fmt.Errorf("topic %q: %w", t, kerr.UnknownTopicOrPartition)
		}
	}
	return l, nil
}

func resetRowOf(topic string, p int32, plan resetPlan, starts, ends, times kadm.ListedOffsets, committed kadm.OffsetResponses) (resetRow, error) {
	start, okS := starts[topic][p]
	end, okE := ends[topic][p]
	if !okS || !okE {
		return resetRow{}, fmt.Errorf("topic %q has no partition %d (it has %d)", topic, p, len(ends[topic]))
	}
	for _, l := range []kadm.ListedOffset{start, end} {
		if l.Err != nil {
			return resetRow{}, fmt.Errorf("%s/%d: %w", topic, p, l.Err)
		}
	}
	row := resetRow{topic: topic, partition: p, current: -1, start: start.Offset, end: end.Offset}
	if c, ok := committed.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
		row.current = c.At
	}
	switch plan.target {
	case toEarliest:
		row.next = row.start
	case toLatest:
		row.next = row.end
	case toOffset:
		row.next = min(max(plan.offset, row.start), row.end)
	case toDatetime:
		t, ok := times[topic][p]
		if !ok || t.Err != nil {
			return resetRow{}, fmt.Errorf("%s/%d: no offset by time: %v", topic, p, t.Err)
		}
		row.next = t.Offset
		if row.next < 0 { // no record at or after the time
			row.next = row.end
		}
	}
	return row, nil
}
