package cluster

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// --- helpers ---

// pinnedConn sends requests at exactly the version they carry (a client
// would negotiate its own), so each version's fields are exercised.
type pinnedConn struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	corr int32
}

func dialPinned(t testing.TB, tb *testBroker) *pinnedConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tb.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &pinnedConn{t: t, c: c, r: bufio.NewReader(c)}
}

// do sends req at version v and returns the decoded response.
func (pc *pinnedConn) do(req kmsg.Request, v int16) kmsg.Response {
	pc.t.Helper()
	req.SetVersion(v)
	pc.corr++
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("admin-test")).AppendRequest(nil, req, pc.corr)
	pc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := pc.c.Write(frame); err != nil {
		pc.t.Fatalf("%s v%d: write: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(pc.r, size[:]); err != nil {
		pc.t.Fatalf("%s v%d: read: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(pc.r, body); err != nil {
		pc.t.Fatalf("%s v%d: read: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != pc.corr {
		pc.t.Fatalf("correlation id %d, want %d", corr, pc.corr)
	}
	resp := req.ResponseKind()
	body = body[4:]
	if resp.IsFlexible() {
		var err error
		if body, err = skipTaggedFields(body); err != nil {
			pc.t.Fatal(err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		pc.t.Fatalf("%s v%d: decode response: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	return resp
}

func newAdmin(t testing.TB, tb *testBroker) *kadm.Client {
	return kadm.NewClient(newClient(t, tb))
}

func newSaramaAdmin(t testing.TB, tb *testBroker, v sarama.KafkaVersion) sarama.ClusterAdmin {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.Admin.Timeout = 10 * time.Second
	adm, err := sarama.NewClusterAdmin([]string{tb.addr()}, cfg)
	if err != nil {
		t.Fatalf("sarama admin at %v: %v", v, err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

func strp(s string) *string { return &s }

// configsOf returns a described resource's configs by name.
func configsOf(t testing.TB, rcs kadm.ResourceConfigs, name string) map[string]kadm.Config {
	t.Helper()
	rc, err := rcs.On(name, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v %s", name, err, rc.Err, rc.ErrMessage)
	}
	m := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		m[c.Key] = c
	}
	return m
}

func wantErr(t testing.TB, what string, got error, want *kerr.Error) {
	t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

// --- CreateTopics ---

func TestCreateTopicsWithConfigs(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)

	cfgs := map[string]*string{"retention.ms": strp("3600000"), "cleanup.policy": strp("compact")}
	dry, err := adm.ValidateCreateTopics(ctx, 4, 1, cfgs, "dry")
	if err != nil || dry["dry"].Err != nil {
		t.Fatalf("validate-only create: %v %+v", err, dry)
	}
	if dry["dry"].NumPartitions != 4 || dry["dry"].ID != (kadm.TopicID{}) {
		t.Fatalf("validate-only create answered %+v", dry["dry"])
	}
	if _, ok := tb.topics.get("dry"); ok {
		t.Fatal("validate-only create made the topic")
	}

	res, err := adm.CreateTopics(ctx, 4, 1, cfgs, "real")
	if err != nil || res["real"].Err != nil {
		t.Fatalf("create: %v %+v", err, res)
	}
	r := res["real"]
	tp, ok := tb.topics.get("real")
	if !ok || r.ID != kadm.TopicID(tp.id) || r.NumPartitions != 4 || r.ReplicationFactor != 1 {
		t.Fatalf("create answered %+v; topic %v", r, tp)
	}
	if c := r.Configs["retention.ms"]; c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("created retention.ms shown as %+v", c)
	}
	if c := r.Configs["segment.bytes"]; c.MaybeValue() != "1073741824" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("created segment.bytes shown as %+v", c)
	}
	if len(tb.topics.view(tp).partitions) != 4 {
		t.Fatal("topic has the wrong partition count")
	}
	if st := tb.topics.view(tp).partitions[0]; st.mu.settings.log.RetentionTime != time.Hour {
		t.Fatalf("partition retention %v, want 1h", st.mu.settings.log.RetentionTime)
	}

	// -1 and -1: the broker's defaults (KIP-464).
	res, err = adm.CreateTopics(ctx, -1, -1, nil, "defaults")
	if err != nil || res["defaults"].Err != nil || res["defaults"].NumPartitions != tb.cfg.NumPartitions {
		t.Fatalf("create with defaults: %v %+v", err, res)
	}
}

// TestCreateTopicsBadInput checks every refusal at every version: the
// code, a message from v1, and that nothing was created.
func TestCreateTopicsBadInput(t *testing.T) {
	tb := startBroker(t, "", func(c *Config) { c.NumPartitions = 3 })
	if _, err := tb.topics.create("exists", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	topic := func(name string, parts int32, rf int16, cfgs ...string) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
		for i := 0; i+1 < len(cfgs); i += 2 {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = cfgs[i], strp(cfgs[i+1])
			rt.Configs = append(rt.Configs, c)
		}
		return rt
	}
	assigned := func(name string, replicas ...[]int32) kmsg.CreateTopicsRequestTopic {
		rt := topic(name, -1, -1)
		for i, r := range replicas {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), r
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		return rt
	}
	cases := []struct {
		name string
		rt   kmsg.CreateTopicsRequestTopic
		want *kerr.Error
	}{
		{"illegal character", topic("bad/name", 1, 1), kerr.InvalidTopicException},
		{"dot", topic(".", 1, 1), kerr.InvalidTopicException},
		{"too long", topic(strings.Repeat("x", 250), 1, 1), kerr.InvalidTopicException},
		{"empty", topic("", 1, 1), kerr.InvalidTopicException},
		{"zero partitions", topic("zero", 0, 1), kerr.InvalidPartitions},
		{"negative partitions", topic("negative", -3, 1), kerr.InvalidPartitions},
		{"exists", topic("exists", 1, 1), kerr.TopicAlreadyExists},
		{"bad config value", topic("badvalue", 1, 1, "retention.ms", "soon"), kerr.InvalidConfig},
		{"config out of range", topic("badrange", 1, 1, "segment.bytes", "2"), kerr.InvalidConfig},
		{"unknown config", topic("unknowncfg", 1, 1, "no.such.config", "1"), kerr.InvalidConfig},
		{"bad cleanup policy", topic("badpolicy", 1, 1, "cleanup.policy", "shred"), kerr.InvalidConfig},
		{"replication factor 3", topic("rf3", 1, 3), kerr.InvalidReplicationFactor},
		{"replication factor 0", topic("rf0", 1, 0), kerr.InvalidReplicationFactor},
		{"assignment elsewhere", assigned("elsewhere", []int32{1}), kerr.InvalidReplicaAssignment},
		{"assignment with two replicas", assigned("tworeplicas", []int32{0, 0}), kerr.InvalidReplicaAssignment},
	}
	pc := dialPinned(t, tb)
	for v := int16(0); v <= 7; v++ {
		for _, c := range cases {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis = 5000
			req.Topics = []kmsg.CreateTopicsRequestTopic{c.rt}
			resp := pc.do(req, v).(*kmsg.CreateTopicsResponse)
			if len(resp.Topics) != 1 {
				t.Fatalf("v%d %s: %d topics answered", v, c.name, len(resp.Topics))
			}
			st := resp.Topics[0]
			if st.ErrorCode != c.want.Code {
				t.Fatalf("v%d %s: got %v, want %v", v, c.name, kerr.ErrorForCode(st.ErrorCode), c.want)
			}
			if v >= 1 && (st.ErrorMessage == nil || *st.ErrorMessage == "") {
				t.Fatalf("v%d %s: no error message", v, c.name)
			}
		}
	}
	if got := userTopicCount(tb); got != 1 {
		t.Fatalf("%d topics after refusals, want 1", got)
	}

	// One topic named twice is refused in both places; the others in the
	// request are not affected.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Topics = []kmsg.CreateTopicsRequestTopic{topic("twice", 1, 1), topic("once", 1, 1), topic("twice", 2, 1)}
	resp := pc.do(req, 7).(*kmsg.CreateTopicsResponse)
	codes := []int16{resp.Topics[0].ErrorCode, resp.Topics[1].ErrorCode, resp.Topics[2].ErrorCode}
	if !slices.Equal(codes, []int16{kerr.InvalidRequest.Code, 0, kerr.InvalidRequest.Code}) {
		t.Fatalf("duplicate topic codes %v", codes)
	}

	// A replica assignment that puts every partition here is fine.
	req.Topics = []kmsg.CreateTopicsRequestTopic{assigned("assigned", []int32{0}, []int32{0})}
	resp = pc.do(req, 7).(*kmsg.CreateTopicsResponse)
	if resp.Topics[0].ErrorCode != 0 || resp.Topics[0].NumPartitions != 2 {
		t.Fatalf("assigned create: %+v", resp.Topics[0])
	}
	// The defaults before v4 are honoured too; at v7 the id is returned.
	req.Topics = []kmsg.CreateTopicsRequestTopic{topic("defaulted", -1, -1)}
	resp = pc.do(req, 7).(*kmsg.CreateTopicsResponse)
	if st := resp.Topics[0]; st.ErrorCode != 0 || st.NumPartitions != 3 || st.ReplicationFactor != 1 || st.TopicID == ([16]byte{}) {
		t.Fatalf("defaulted create: %+v", st)
	}
}

func TestCreateTopicsErrorsThroughKadm(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "exists"); err != nil {
		t.Fatal(err)
	}
	check := func(what string, res kadm.CreateTopicResponses, err error, topic string, want *kerr.Error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		wantErr(t, what, res[topic].Err, want)
		if res[topic].ErrMessage == "" {
			t.Fatalf("%s: no error message", what)
		}
	}
	res, err := adm.CreateTopics(ctx, 1, 1, nil, "no spaces")
	check("invalid name", res, err, "no spaces", kerr.InvalidTopicException)
	res, err = adm.CreateTopics(ctx, 0, 1, nil, "zero")
	check("0 partitions", res, err, "zero", kerr.InvalidPartitions)
	res, err = adm.CreateTopics(ctx, -3, 1, nil, "minus3")
	check("-3 partitions", res, err, "minus3", kerr.InvalidPartitions)
	res, err = adm.CreateTopics(ctx, 1, 1, nil, "exists")
	check("existing", res, err, "exists", kerr.TopicAlreadyExists)
	res, err = adm.ValidateCreateTopics(ctx, 1, 1, nil, "exists")
	check("existing, validate-only", res, err, "exists", kerr.TopicAlreadyExists)
	res, err = adm.CreateTopics(ctx, 1, 1, map[string]*string{"max.message.bytes": strp("-5")}, "badcfg")
	check("bad config", res, err, "badcfg", kerr.InvalidConfig)
	res, err = adm.CreateTopics(ctx, 1, 3, nil, "rf3")
	check("replication factor 3", res, err, "rf3", kerr.InvalidReplicationFactor)
}

// --- DeleteTopics ---

func TestDeleteTopics(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)
	cl := newClient(t, tb, kgo.DefaultProduceTopic("doomed"))
	if _, err := adm.CreateTopics(ctx, 2, 1, nil, "doomed", "byid"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	dir := tb.topics.partitionDir("doomed", 0)
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	res, err := adm.DeleteTopics(ctx, "doomed", "neverwas")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete", res["doomed"].Err, nil)
	wantErr(t, "delete unknown", res["neverwas"].Err, kerr.UnknownTopicOrPartition)
	if _, ok := tb.topics.get("doomed"); ok {
		t.Fatal("topic still there")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partition dir still there: %v", err)
	}

	// By id (v6), and an unknown id; name and id together is refused.
	tp, _ := tb.topics.get("byid")
	pc := dialPinned(t, tb)
	req := kmsg.NewPtrDeleteTopicsRequest()
	byID, unknown, both := kmsg.NewDeleteTopicsRequestTopic(), kmsg.NewDeleteTopicsRequestTopic(), kmsg.NewDeleteTopicsRequestTopic()
	byID.TopicID = tp.id
	unknown.TopicID = [16]byte{1, 2, 3}
	both.Topic, both.TopicID = strp("byid"), tp.id
	req.Topics = []kmsg.DeleteTopicsRequestTopic{both, byID, unknown}
	resp := pc.do(req, 6).(*kmsg.DeleteTopicsResponse)
	if resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code || resp.Topics[1].ErrorCode != 0 ||
		resp.Topics[2].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("delete by id: %+v", resp.Topics)
	}
	if resp.Topics[1].Topic == nil || *resp.Topics[1].Topic != "byid" {
		t.Fatalf("delete by id answered name %v", resp.Topics[1].Topic)
	}
	if userTopicCount(tb) != 0 {
		t.Fatal("topics left")
	}

	// Every version by name.
	for v := int16(0); v <= 5; v++ {
		name := fmt.Sprintf("v%d", v)
		if _, err := tb.topics.create(name, 1, nil, false); err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{name}
		if resp := pc.do(req, v).(*kmsg.DeleteTopicsResponse); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("delete v%d: %+v", v, resp.Topics)
		}
	}

	// A recreated topic starts empty, with a new id.
	res2, err := adm.CreateTopics(ctx, 1, 1, nil, "doomed")
	if err != nil || res2["doomed"].Err != nil {
		t.Fatalf("recreate: %v %+v", err, res2)
	}
	if p, _ := tb.topics.partition("doomed", 0); p.log.EndOffset() != 0 {
		t.Fatalf("recreated topic holds %d records", p.log.EndOffset())
	}
}

// --- CreatePartitions ---

func TestCreatePartitions(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	parts := func() int {
		tp, _ := tb.topics.get("grow")
		return len(tb.topics.view(tp).partitions)
	}
	res, err := adm.ValidateCreatePartitions(ctx, 2, "grow")
	if err != nil || res["grow"].Err != nil || parts() != 1 {
		t.Fatalf("validate-only: %v %+v, %d partitions", err, res, parts())
	}
	res, err = adm.CreatePartitions(ctx, 2, "grow")
	if err != nil || res["grow"].Err != nil || parts() != 3 {
		t.Fatalf("add 2: %v %+v, %d partitions", err, res, parts())
	}
	for _, c := range []struct {
		topic string
		count int
		want  *kerr.Error
	}{{"grow", 3, kerr.InvalidPartitions}, {"grow", 1, kerr.InvalidPartitions}, {"nosuch", 5, kerr.UnknownTopicOrPartition}} {
		res, err := adm.UpdatePartitions(ctx, c.count, c.topic)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, fmt.Sprintf("%s to %d", c.topic, c.count), res[c.topic].Err, c.want)
		if res[c.topic].ErrMessage == "" {
			t.Fatal("no error message")
		}
	}

	// The new partitions take records.
	cl := newClient(t, tb, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r := &kgo.Record{Topic: "grow", Partition: 2, Value: []byte("x")}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Explicit assignments: this node is fine, another is not.
	pc := dialPinned(t, tb)
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", int32(parts()+1)
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = []int32{7}
		rt.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{a}
		req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
		if resp := pc.do(req, v).(*kmsg.CreatePartitionsResponse); resp.Topics[0].ErrorCode != kerr.InvalidReplicaAssignment.Code {
			t.Fatalf("v%d assignment elsewhere: %+v", v, resp.Topics[0])
		}
		req.Topics[0].Assignment[0].Replicas = []int32{0}
		if resp := pc.do(req, v).(*kmsg.CreatePartitionsResponse); resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("v%d assignment here: %+v", v, resp.Topics[0])
		}
	}
	if parts() != 7 {
		t.Fatalf("%d partitions, want 7", parts())
	}
}

// --- DescribeConfigs ---

func TestDescribeTopicConfigs(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"retention.ms": strp("60000")}, "described"); err != nil {
		t.Fatal(err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "described", "nosuch")
	if err != nil {
		t.Fatal(err)
	}
	m := configsOf(t, rcs, "described")
	if len(m) != len(topicConfigs) {
		t.Fatalf("%d configs described, want %d", len(m), len(topicConfigs))
	}
	ret := m["retention.ms"]
	if ret.MaybeValue() != "60000" || ret.Source != kmsg.ConfigSourceDynamicTopicConfig || len(ret.Synonyms) != 2 ||
		ret.Synonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig ||
		ret.Synonyms[1].Key != "log.retention.ms" || *ret.Synonyms[1].Value != "604800000" ||
		ret.Synonyms[1].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("retention.ms described as %+v", ret)
	}
	if c := m["cleanup.policy"]; c.MaybeValue() != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig || len(c.Synonyms) != 1 {
		t.Fatalf("cleanup.policy described as %+v", c)
	}
	if c := m["max.message.bytes"]; c.MaybeValue() != "1048588" {
		t.Fatalf("max.message.bytes described as %+v", c)
	}
	rc, _ := rcs.On("nosuch", nil)
	wantErr(t, "unknown topic", rc.Err, kerr.UnknownTopicOrPartition)

	// Every version: names filter, read-only, types, defaults.
	pc := dialPinned(t, tb)
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeSynonyms = true
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "described"
		rr.ConfigNames = []string{"retention.ms", "segment.bytes", "no.such"}
		bad := kmsg.NewDescribeConfigsRequestResource()
		bad.ResourceType, bad.ResourceName = kmsg.ConfigResourceTypeTopic, "bad name"
		req.Resources = []kmsg.DescribeConfigsRequestResource{rr, bad}
		resp := pc.do(req, v).(*kmsg.DescribeConfigsResponse)
		r := resp.Resources[0]
		if r.ErrorCode != 0 || len(r.Configs) != 2 || r.Configs[0].Name != "retention.ms" || r.Configs[1].Name != "segment.bytes" {
			t.Fatalf("v%d: %+v", v, r)
		}
		c0, c1 := r.Configs[0], r.Configs[1]
		if v == 0 && (c0.IsDefault || !c1.IsDefault) || c0.ReadOnly || *c0.Value != "60000" {
			t.Fatalf("v%d: %+v", v, r.Configs)
		}
		if v >= 1 && (c0.Source != kmsg.ConfigSourceDynamicTopicConfig || len(c0.ConfigSynonyms) != 2) {
			t.Fatalf("v%d source or synonyms: %+v", v, c0)
		}
		if v >= 3 && (c0.ConfigType != kmsg.ConfigTypeLong || c1.ConfigType != kmsg.ConfigTypeInt) {
			t.Fatalf("v%d config types %v %v", v, c0.ConfigType, c1.ConfigType)
		}
		if resp.Resources[1].ErrorCode != kerr.InvalidTopicException.Code {
			t.Fatalf("v%d bad name: %+v", v, resp.Resources[1])
		}
	}
}

func TestDescribeBrokerConfigs(t *testing.T) {
	tb := startBroker(t, "", func(c *Config) { c.NumPartitions = 6 })
	adm, ctx := newAdmin(t, tb), testCtx(t)
	for _, rcs := range []func() (kadm.ResourceConfigs, error){
		func() (kadm.ResourceConfigs, error) { return adm.DescribeBrokerConfigs(ctx) },
		func() (kadm.ResourceConfigs, error) { return adm.DescribeBrokerConfigs(ctx, 0) },
	} {
		res, err := rcs()
		if err != nil || len(res) != 1 {
			t.Fatalf("describe broker: %v %+v", err, res)
		}
		m := configsOf(t, res, res[0].Name)
		for name, want := range map[string]string{
			"num.partitions": "6", "auto.create.topics.enable": "true", "log.retention.ms": "604800000",
			"message.max.bytes": "1048588", "log.segment.bytes": "1073741824", "log.cleanup.policy": "delete",
		} {
			if c := m[name]; c.MaybeValue() != want {
				t.Fatalf("%s = %q, want %q", name, c.MaybeValue(), want)
			}
		}
		if m["num.partitions"].Source != kmsg.ConfigSourceStaticBrokerConfig || m["log.retention.ms"].Source != kmsg.ConfigSourceDefaultConfig {
			t.Fatalf("sources: %+v %+v", m["num.partitions"], m["log.retention.ms"])
		}
	}
	pc := dialPinned(t, tb)
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
	other := rr
	other.ResourceName = "5"
	logger := rr
	logger.ResourceType = kmsg.ConfigResourceTypeBrokerLogger
	req.Resources = []kmsg.DescribeConfigsRequestResource{rr, other, logger}
	resp := pc.do(req, 4).(*kmsg.DescribeConfigsResponse)
	for _, c := range resp.Resources[0].Configs {
		if !c.ReadOnly {
			t.Fatalf("broker config %s is not read-only", c.Name)
		}
	}
	if resp.Resources[1].ErrorCode != kerr.InvalidRequest.Code || resp.Resources[2].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("other broker, broker logger: %+v", resp.Resources[1:])
	}
}

// --- AlterConfigs and IncrementalAlterConfigs ---

func TestAlterConfigsReplacesAll(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"retention.ms": strp("60000")}, "alt"); err != nil {
		t.Fatal(err)
	}
	own := func() map[string]string {
		tp, _ := tb.topics.get("alt")
		return tb.topics.view(tp).configs
	}
	set := []kadm.AlterConfig{{Name: "segment.bytes", Value: strp("4096")}, {Name: "retention.bytes", Value: strp("100000")}}
	res, err := adm.ValidateAlterTopicConfigsState(ctx, set, "alt")
	if err != nil || res[0].Err != nil || own()["retention.ms"] != "60000" || len(own()) != 1 {
		t.Fatalf("validate-only: %v %+v, configs %v", err, res, own())
	}
	res, err = adm.AlterTopicConfigsState(ctx, set, "alt")
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, res)
	}
	if got := own(); len(got) != 2 || got["segment.bytes"] != "4096" || got["retention.bytes"] != "100000" {
		t.Fatalf("configs after alter: %v (retention.ms must be gone)", got)
	}
	p, _ := tb.topics.partition("alt", 0)
	if s := p.mu.settings.log; s.SegmentBytes != 4096 || s.RetentionBytes != 100000 || s.RetentionTime != tb.cfg.LogDefaults.RetentionTime {
		t.Fatalf("partition settings %+v", s)
	}

	res, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: strp("huge")}}, "alt")
	wantErr(t, "bad value", res[0].Err, kerr.InvalidConfig)
	res, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: strp("1")}}, "nosuch")
	wantErr(t, "unknown topic", res[0].Err, kerr.UnknownTopicOrPartition)
	res, err = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: strp("2")}})
	if err != nil || len(res) != 1 {
		t.Fatalf("broker alter: %v %+v", err, res)
	}
	wantErr(t, "broker", res[0].Err, kerr.InvalidRequest)
	if own()["segment.bytes"] != "4096" {
		t.Fatal("a refused alter changed the topic")
	}

	// Every version; a config named twice is refused.
	pc := dialPinned(t, tb)
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrAlterConfigsRequest()
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "alt"
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "flush.messages", strp(fmt.Sprint(10+v))
		rr.Configs = []kmsg.AlterConfigsRequestResourceConfig{c}
		req.Resources = []kmsg.AlterConfigsRequestResource{rr}
		if resp := pc.do(req, v).(*kmsg.AlterConfigsResponse); resp.Resources[0].ErrorCode != 0 {
			t.Fatalf("v%d: %+v", v, resp.Resources[0])
		}
		if got := own(); len(got) != 1 || got["flush.messages"] != fmt.Sprint(10+v) {
			t.Fatalf("v%d configs %v", v, got)
		}
		req.Resources[0].Configs = append(req.Resources[0].Configs, c)
		if resp := pc.do(req, v).(*kmsg.AlterConfigsResponse); resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("v%d duplicate config: %+v", v, resp.Resources[0])
		}
	}
}

func TestIncrementalAlterConfigs(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if _, err := adm.CreateTopics(ctx, 2, 1, map[string]*string{"retention.ms": strp("60000")}, "inc"); err != nil {
		t.Fatal(err)
	}
	own := func() map[string]string {
		tp, _ := tb.topics.get("inc")
		return tb.topics.view(tp).configs
	}
	alter := func(ops ...kadm.AlterConfig) error {
		t.Helper()
		res, err := adm.AlterTopicConfigs(ctx, ops, "inc")
		if err != nil || len(res) != 1 {
			t.Fatalf("alter: %v %+v", err, res)
		}
		if res[0].Err != nil && res[0].ErrMessage == "" {
			t.Fatalf("error %v without a message", res[0].Err)
		}
		return res[0].Err
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.bytes", Value: strp("8192")}); err != nil {
		t.Fatal(err)
	}
	if got := own(); got["retention.ms"] != "60000" || got["segment.bytes"] != "8192" {
		t.Fatalf("after SET: %v", got)
	}
	if err := alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"}); err != nil {
		t.Fatal(err)
	}
	if got := own(); len(got) != 1 {
		t.Fatalf("after DELETE: %v", got)
	}
	for _, p := range []int32{0, 1} {
		pt, _ := tb.topics.partition("inc", p)
		if s := pt.mu.settings.log; s.SegmentBytes != 8192 || s.RetentionTime != tb.cfg.LogDefaults.RetentionTime {
			t.Fatalf("partition %d settings %+v", p, s)
		}
	}
	// List configs: APPEND starts from the default.
	if err := alter(kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: strp("compact")}); err != nil {
		t.Fatal(err)
	}
	if got := own()["cleanup.policy"]; got != "delete,compact" {
		t.Fatalf("after APPEND: %q", got)
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: strp("delete")}); err != nil {
		t.Fatal(err)
	}
	if got := own()["cleanup.policy"]; got != "compact" {
		t.Fatalf("after SUBTRACT: %q", got)
	}
}

// TestIncrementalAlterConfigsRefusals: a refused change leaves the
// topic's configs as they were, whichever of its operations is wrong.
func TestIncrementalAlterConfigsRefusals(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"cleanup.policy": strp("compact")}, "inc"); err != nil {
		t.Fatal(err)
	}
	own := func() map[string]string {
		tp, _ := tb.topics.get("inc")
		return tb.topics.view(tp).configs
	}
	alter := func(ops ...kadm.AlterConfig) error {
		t.Helper()
		res, err := adm.AlterTopicConfigs(ctx, ops, "inc")
		if err != nil || len(res) != 1 {
			t.Fatalf("alter: %v %+v", err, res)
		}
		if res[0].Err != nil && res[0].ErrMessage == "" {
			t.Fatalf("error %v without a message", res[0].Err)
		}
		return res[0].Err
	}
	before := own()
	for _, c := range []struct {
		what string
		ops  []kadm.AlterConfig
		want *kerr.Error
	}{
		{"empty list", []kadm.AlterConfig{{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: strp("compact")}}, kerr.InvalidConfig},
		{"append to a number", []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: strp("1")}}, kerr.InvalidConfig},
		{"unknown config", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "nope", Value: strp("1")}}, kerr.InvalidConfig},
		{"bad value", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("x")}}, kerr.InvalidConfig},
		{"one good, one bad", []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("5000")},
			{Op: kadm.SetConfig, Name: "segment.ms", Value: strp("0")},
		}, kerr.InvalidConfig},
		{"named twice", []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("5000")},
			{Op: kadm.DeleteConfig, Name: "retention.bytes"},
		}, kerr.InvalidRequest},
	} {
		wantErr(t, c.what, alter(c.ops...), c.want)
		if got := own(); !mapsEqual(got, before) {
			t.Fatalf("%s changed the configs: %v", c.what, got)
		}
	}
	res, err := adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("5000")}}, "inc")
	if err != nil || res[0].Err != nil || !mapsEqual(own(), before) {
		t.Fatalf("validate-only: %v %+v %v", err, res, own())
	}
	res, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("5000")}}, "nosuch")
	wantErr(t, "unknown topic", res[0].Err, kerr.UnknownTopicOrPartition)
	res, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: strp("2")}}, 0)
	if err != nil || len(res) != 1 {
		t.Fatalf("broker alter: %v %+v", err, res)
	}
	wantErr(t, "broker", res[0].Err, kerr.InvalidRequest)

	// v0 as well as v1 (kadm's).
	pc := dialPinned(t, tb)
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "inc"
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = "flush.ms", kmsg.IncrementalAlterConfigOpSet, strp("1000")
	rr.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{c}
	req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{rr, rr}
	resp := pc.do(req, 0).(*kmsg.IncrementalAlterConfigsResponse)
	if resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code || resp.Resources[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("a resource named twice: %+v", resp.Resources)
	}
	req.Resources = req.Resources[:1]
	req.Resources[0].Configs[0].Op = 9
	if resp := pc.do(req, 1).(*kmsg.IncrementalAlterConfigsResponse); resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("unknown operation: %+v", resp.Resources)
	}
	req.Resources[0].Configs[0].Op = kmsg.IncrementalAlterConfigOpSet
	if resp := pc.do(req, 0).(*kmsg.IncrementalAlterConfigsResponse); resp.Resources[0].ErrorCode != 0 || own()["flush.ms"] != "1000" {
		t.Fatalf("v0: %+v %v", resp.Resources, own())
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestConfigChangesTakeEffect is the issue's "config changes taking
// effect": small segments and retention.bytes set on a live topic make
// the next maintenance delete the old segments, and a smaller
// max.message.bytes refuses a batch it accepted before.
func TestConfigChangesTakeEffect(t *testing.T) {
	tb := startBroker(t, "", func(c *Config) { c.MaintenanceInterval = time.Hour })
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "ret"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, tb, kgo.DefaultProduceTopic("ret"), kgo.ProducerLinger(0))
	value := []byte(strings.Repeat("v", 100))
	produce := func(n int) {
		t.Helper()
		for range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	segments := func() int {
		ms, _ := filepath.Glob(filepath.Join(tb.topics.partitionDir("ret", 0), "*.log"))
		return len(ms)
	}
	p, _ := tb.topics.partition("ret", 0)

	produce(50)
	tb.topics.maintain()
	if p.log.StartOffset() != 0 || segments() != 1 {
		t.Fatalf("defaults: start %d, %d segments", p.log.StartOffset(), segments())
	}

	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "segment.bytes", Value: strp("1024")},
		{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("2048")},
	}, "ret")
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, res)
	}
	produce(100)
	before := segments()
	if before < 5 {
		t.Fatalf("only %d segments after shrinking segment.bytes", before)
	}
	tb.topics.maintain()
	after, start := segments(), p.log.StartOffset()
	if start == 0 || after >= before || p.log.Size() > 2048+1024 {
		t.Fatalf("after retention: start %d, %d segments (from %d), %d bytes", start, after, before, p.log.Size())
	}
	if p.log.EndOffset() != 150 {
		t.Fatalf("end offset %d, want 150", p.log.EndOffset())
	}
	t.Logf("retention: %d segments -> %d, log start 0 -> %d", before, after, start)

	// max.message.bytes: a record that fitted no longer does.
	big := &kgo.Record{Value: make([]byte, 300)}
	rand.Read(big.Value) // incompressible: the client compresses batches
	if err := cl.ProduceSync(ctx, big).FirstErr(); err != nil {
		t.Fatal(err)
	}
	res, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: strp("200")}}, "ret")
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, res)
	}
	big = &kgo.Record{Value: big.Value}
	if err := cl.ProduceSync(ctx, big).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("produce over max.message.bytes: %v", err)
	}
}

// TestTopicsSurviveRestart: topics, ids, partition counts and configs
// changed by every admin API are there after a clean restart.
func TestTopicsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if _, err := adm.CreateTopics(ctx, 2, 1, map[string]*string{"retention.ms": strp("60000")}, "a", "b", "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreatePartitions(ctx, 3, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: strp("compact")}}, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopics(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	want, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantCfgs, err := adm.DescribeTopicConfigs(ctx, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	tb.stop(t)

	tb2 := startBroker(t, dir, nil)
	adm2 := newAdmin(t, tb2)
	got, err := adm2.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got.Has("gone") {
		t.Fatalf("topics after restart: %v", got.Names())
	}
	for _, name := range []string{"a", "b"} {
		if got[name].ID != want[name].ID || len(got[name].Partitions) != len(want[name].Partitions) {
			t.Fatalf("%s after restart: id %v, %d partitions; was %v, %d", name,
				got[name].ID, len(got[name].Partitions), want[name].ID, len(want[name].Partitions))
		}
	}
	if len(got["b"].Partitions) != 5 {
		t.Fatalf("b has %d partitions, want 5", len(got["b"].Partitions))
	}
	gotCfgs, err := adm2.DescribeTopicConfigs(ctx, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		w, g := configsOf(t, wantCfgs, name), configsOf(t, gotCfgs, name)
		for k, wc := range w {
			if gc := g[k]; gc.MaybeValue() != wc.MaybeValue() || gc.Source != wc.Source {
				t.Fatalf("%s %s after restart: %+v, was %+v", name, k, g[k], wc)
			}
		}
	}
	if c := configsOf(t, gotCfgs, "a")["cleanup.policy"]; c.MaybeValue() != "compact" {
		t.Fatalf("a cleanup.policy after restart: %+v", c)
	}
	p, _ := tb2.topics.partition("a", 1)
	if p.mu.settings.log.RetentionTime != time.Minute {
		t.Fatalf("a's partition retention after restart: %v", p.mu.settings.log.RetentionTime)
	}
}

// --- DescribeCluster ---

func TestDescribeCluster(t *testing.T) {
	tb := startBroker(t, "", func(c *Config) { c.ClusterID = "test-cluster"; c.NodeID = 3 })
	pc := dialPinned(t, tb)
	host, port := tb.advertised()
	for v := int16(0); v <= 1; v++ {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeClusterAuthorizedOperations = true
		resp := pc.do(req, v).(*kmsg.DescribeClusterResponse)
		if resp.ErrorCode != 0 || resp.ClusterID != "test-cluster" || resp.ControllerID != 3 || len(resp.Brokers) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if b := resp.Brokers[0]; b.NodeID != 3 || b.Host != host || b.Port != port {
			t.Fatalf("v%d broker %+v", v, b)
		}
		if ops := resp.ClusterAuthorizedOperations; ops&(1<<kmsg.ACLOperationAlterConfigs) == 0 || ops&(1<<kmsg.ACLOperationRead) != 0 {
			t.Fatalf("v%d authorized operations %b", v, ops)
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	if resp := pc.do(req, 1).(*kmsg.DescribeClusterResponse); resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Fatalf("controllers endpoint: %+v", resp)
	}
}

// --- IBM/sarama's ClusterAdmin ---

func TestSaramaClusterAdmin(t *testing.T) {
	for _, v := range []sarama.KafkaVersion{sarama.V2_3_0_0, sarama.DefaultVersion, sarama.MaxVersion} {
		t.Run(v.String(), func(t *testing.T) { saramaAdmin(t, v) })
	}
}

func saramaAdmin(t *testing.T, v sarama.KafkaVersion) {
	tb := startBroker(t, "", nil)
	adm := newSaramaAdmin(t, tb, v)
	detail := &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": strp("120000")}}
	if err := adm.CreateTopic("s", detail, true); err != nil {
		t.Fatalf("validate-only: %v", err)
	}
	if _, ok := tb.topics.get("s"); ok {
		t.Fatal("validate-only create made the topic")
	}
	if err := adm.CreateTopic("s", detail, false); err != nil {
		t.Fatalf("create: %v", err)
	}
	for _, c := range []struct {
		name   string
		detail sarama.TopicDetail
		want   sarama.KError
	}{
		{"s", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrTopicAlreadyExists},
		{"bad#name", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrInvalidTopic},
		{"zero", sarama.TopicDetail{NumPartitions: 0, ReplicationFactor: 1}, sarama.ErrInvalidPartitions},
		{"minus3", sarama.TopicDetail{NumPartitions: -3, ReplicationFactor: 1}, sarama.ErrInvalidPartitions},
		{"rf2", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 2}, sarama.ErrInvalidReplicationFactor},
		{"cfg", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
			ConfigEntries: map[string]*string{"segment.bytes": strp("tiny")}}, sarama.ErrInvalidConfig},
	} {
		err := adm.CreateTopic(c.name, &c.detail, false)
		var te *sarama.TopicError
		if !errors.As(err, &te) || te.Err != c.want {
			t.Fatalf("create %s: %v, want %v", c.name, err, c.want)
		}
	}

	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "s"})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "retention.ms" {
			found = e.Value == "120000" && !e.Default && !e.ReadOnly
		}
	}
	if !found || len(entries) != len(topicConfigs) {
		t.Fatalf("described %d configs: %+v", len(entries), entries)
	}
	if _, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "0"}); err != nil {
		t.Fatalf("describe broker: %v", err)
	}

	if err := adm.AlterConfig(sarama.TopicResource, "s", map[string]*string{"segment.bytes": strp("65536")}, false); err != nil {
		t.Fatalf("alter: %v", err)
	}
	tp, _ := tb.topics.get("s")
	if got := tb.topics.view(tp).configs; len(got) != 1 || got["segment.bytes"] != "65536" {
		t.Fatalf("configs after alter: %v", got)
	}
	err = adm.IncrementalAlterConfig(sarama.TopicResource, "s", map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: strp("1000000")},
	}, false)
	if err != nil {
		t.Fatalf("incremental alter: %v", err)
	}
	if got := tb.topics.view(tp).configs; len(got) != 2 || got["retention.bytes"] != "1000000" {
		t.Fatalf("configs after incremental alter: %v", got)
	}
	if err := adm.AlterConfig(sarama.TopicResource, "s", map[string]*string{"segment.bytes": strp("no")}, false); err == nil {
		t.Fatal("bad value accepted")
	}

	if err := adm.CreatePartitions("s", 5, nil, true); err != nil {
		t.Fatalf("validate-only partitions: %v", err)
	}
	if err := adm.CreatePartitions("s", 5, nil, false); err != nil {
		t.Fatalf("partitions: %v", err)
	}
	if err := adm.CreatePartitions("s", 4, nil, false); err == nil || !strings.Contains(err.Error(), sarama.ErrInvalidPartitions.Error()) {
		t.Fatalf("shrink: %v", err)
	}
	if n := len(tb.topics.view(tp).partitions); n != 5 {
		t.Fatalf("%d partitions, want 5", n)
	}

	brokers, controller, err := adm.DescribeCluster()
	if err != nil || len(brokers) != 1 || controller != 0 {
		t.Fatalf("describe cluster: %v %v %d", err, brokers, controller)
	}
	if err := adm.DeleteTopic("s"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := adm.DeleteTopic("s"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("delete again: %v", err)
	}
}
