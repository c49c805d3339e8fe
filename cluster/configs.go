package cluster

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	rlog "github.com/runnel-io/runnel/log"
)

// topicSettings are a topic's effective settings: its log's, and the few
// the broker applies itself.
type topicSettings struct {
	log           rlog.Config
	logAppendTime bool // message.timestamp.type=LogAppendTime
	minISR        int  // min.insync.replicas
}

// topicConfig describes one topic config Kafka clients may set: how to
// show its broker default, check a value, and apply it.
type topicConfig struct {
	name    string
	kind    string // for DescribeConfigs: BOOLEAN, STRING, INT, LONG, LIST
	def     func(*Config) string
	check   func(string) error
	apply   func(*topicSettings, string)
	brokers string // the broker setting that provides the default
}

func msString(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

func parseMs(s string) time.Duration {
	v, _ := strconv.ParseInt(s, 10, 64)
	if v < 0 {
		return -1
	}
	return time.Duration(v) * time.Millisecond
}

func checkLong(lo int64) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		if v < lo {
			return fmt.Errorf("%d is below %d", v, lo)
		}
		return nil
	}
}

func checkInt(lo int64) func(string) error {
	long := checkLong(lo)
	return func(s string) error {
		if err := long(s); err != nil {
			return err
		}
		if v, _ := strconv.ParseInt(s, 10, 64); v > math.MaxInt32 {
			return fmt.Errorf("%d is above %d", v, math.MaxInt32)
		}
		return nil
	}
}

func checkOneOf(vals ...string) func(string) error {
	return func(s string) error {
		for _, v := range vals {
			if s == v {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %v", s, vals)
	}
}

// flushNever is how Kafka shows "never" for flush.messages and flush.ms.
const flushNever = "9223372036854775807"

func flushString(n int64) string {
	if n <= 0 {
		return flushNever
	}
	return strconv.FormatInt(n, 10)
}

func parseFlush(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	if v == math.MaxInt64 {
		return 0
	}
	return v
}

var topicConfigs = []topicConfig{
	{"cleanup.policy", "LIST", func(c *Config) string { return c.LogDefaults.CleanupPolicy.String() },
		func(s string) error { _, err := rlog.ParseCleanupPolicy(s); return err },
		func(t *topicSettings, s string) { t.log.CleanupPolicy, _ = rlog.ParseCleanupPolicy(s) }, "log.cleanup.policy"},
	{"retention.ms", "LONG", func(c *Config) string { return msString(c.LogDefaults.RetentionTime) }, checkLong(-1),
		func(t *topicSettings, s string) { t.log.RetentionTime = parseMs(s) }, "log.retention.ms"},
	{"retention.bytes", "LONG", func(c *Config) string { return strconv.FormatInt(c.LogDefaults.RetentionBytes, 10) }, checkLong(-1),
		func(t *topicSettings, s string) { t.log.RetentionBytes, _ = strconv.ParseInt(s, 10, 64) }, "log.retention.bytes"},
	{"segment.bytes", "INT", func(c *Config) string { return strconv.FormatInt(c.LogDefaults.SegmentBytes, 10) }, checkInt(14),
		func(t *topicSettings, s string) { t.log.SegmentBytes, _ = strconv.ParseInt(s, 10, 64) }, "log.segment.bytes"},
	{"segment.ms", "LONG", func(c *Config) string { return msString(c.LogDefaults.SegmentTime) }, checkLong(1),
		func(t *topicSettings, s string) { t.log.SegmentTime = parseMs(s) }, "log.roll.ms"},
	{"max.message.bytes", "INT", func(c *Config) string { return strconv.Itoa(c.MessageMaxBytes) }, checkInt(rlog.BatchHeaderSize),
		func(t *topicSettings, s string) { v, _ := strconv.Atoi(s); t.log.MaxBatchBytes = v }, "message.max.bytes"},
	{"message.timestamp.type", "STRING", func(*Config) string { return "CreateTime" }, checkOneOf("CreateTime", "LogAppendTime"),
		func(t *topicSettings, s string) { t.logAppendTime = s == "LogAppendTime" }, "log.message.timestamp.type"},
	{"delete.retention.ms", "LONG", func(c *Config) string { return msString(c.LogDefaults.DeleteRetention) }, checkLong(0),
		func(t *topicSettings, s string) { t.log.DeleteRetention = parseMs(s) }, "log.cleaner.delete.retention.ms"},
	{"min.compaction.lag.ms", "LONG", func(c *Config) string { return msString(c.LogDefaults.MinCompactionLag) }, checkLong(0),
		func(t *topicSettings, s string) { t.log.MinCompactionLag = parseMs(s) }, "log.cleaner.min.compaction.lag.ms"},
	{"flush.messages", "LONG", func(c *Config) string { return flushString(c.LogDefaults.FlushMessages) }, checkLong(1),
		func(t *topicSettings, s string) { t.log.FlushMessages = parseFlush(s) }, "log.flush.interval.messages"},
	{"flush.ms", "LONG", func(c *Config) string { return flushString(c.LogDefaults.FlushInterval.Milliseconds()) }, checkLong(0),
		func(t *topicSettings, s string) {
			t.log.FlushInterval = time.Duration(parseFlush(s)) * time.Millisecond
		}, "log.flush.interval.ms"},
	{"index.interval.bytes", "INT", func(c *Config) string { return strconv.Itoa(c.LogDefaults.IndexIntervalBytes) }, checkInt(0),
		func(t *topicSettings, s string) { t.log.IndexIntervalBytes, _ = strconv.Atoi(s) }, "log.index.interval.bytes"},
	{"min.insync.replicas", "INT", func(*Config) string { return "1" }, checkInt(1),
		func(t *topicSettings, s string) { t.minISR, _ = strconv.Atoi(s) }, "min.insync.replicas"},
	{"compression.type", "STRING", func(*Config) string { return "producer" }, checkOneOf("producer"),
		func(*topicSettings, string) {}, "compression.type"},
	{"unclean.leader.election.enable", "BOOLEAN", func(*Config) string { return "false" }, checkOneOf("false"),
		func(*topicSettings, string) {}, "unclean.leader.election.enable"},
}

var topicConfigByName = func() map[string]*topicConfig {
	m := make(map[string]*topicConfig, len(topicConfigs))
	for i := range topicConfigs {
		m[topicConfigs[i].name] = &topicConfigs[i]
	}
	return m
}()

// errInvalidConfig is returned for an unknown config or a bad value; the
// handlers answer INVALID_CONFIG with its text.
type errInvalidConfig struct{ msg string }

func (e errInvalidConfig) Error() string { return e.msg }

// checkTopicConfigs validates a set of topic configs.
func checkTopicConfigs(cfgs map[string]string) error {
	for name, v := range cfgs {
		tc, ok := topicConfigByName[name]
		if !ok {
			return errInvalidConfig{fmt.Sprintf("unknown topic config %q", name)}
		}
		if err := tc.check(v); err != nil {
			return errInvalidConfig{fmt.Sprintf("invalid value for %s: %v", name, err)}
		}
	}
	_, err := settingsFor(&Config{LogDefaults: rlog.DefaultConfig(), MessageMaxBytes: rlog.DefaultMaxBatchBytes}, cfgs)
	return err
}

// settingsFor computes a topic's effective settings from the broker's
// defaults and the topic's own configs, which must have been checked.
func settingsFor(bc *Config, cfgs map[string]string) (topicSettings, error) {
	s := topicSettings{log: bc.LogDefaults, minISR: 1}
	s.log.MaxBatchBytes = bc.MessageMaxBytes
	names := make([]string, 0, len(cfgs))
	for name := range cfgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if tc, ok := topicConfigByName[name]; ok {
			tc.apply(&s, cfgs[name])
		}
	}
	if err := s.log.Validate(); err != nil {
		return s, errInvalidConfig{err.Error()}
	}
	return s, nil
}
