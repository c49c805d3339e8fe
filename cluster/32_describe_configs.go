package cluster

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs: v0-4
//
// TOPIC resources list every config of the topic configs table
// (configs.go): the topic's own value with source DYNAMIC_TOPIC_CONFIG, or
// else the broker's, with source DEFAULT_CONFIG when it is Kafka's default
// and STATIC_BROKER_CONFIG when the broker was started with another.
// BROKER resources (this node's id, or an empty name) list the broker's
// settings, read-only: they are fixed at start. ConfigNames keeps only the
// configs named (unknown names are left out, as Kafka does). An unknown
// topic answers UNKNOWN_TOPIC_OR_PARTITION, an illegal name
// INVALID_TOPIC_EXCEPTION, another broker or resource type
// INVALID_REQUEST.
//
// Version notes: v1 Source and ConfigSynonyms when IncludeSynonyms
// (KIP-226); v2 ThrottleMillis; v3 ConfigType and Documentation (KIP-569;
// we send no documentation); v4 flexible.

func init() { register(32, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i := range req.Resources {
		rr := &req.Resources[i]
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		var code *kerr.Error
		var msg string
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			r.Configs, code, msg = b.describeTopic(rr.ResourceName, req.IncludeSynonyms)
		case kmsg.ConfigResourceTypeBroker:
			if code, msg = b.checkBrokerResource(rr.ResourceName); code == nil {
				r.Configs = b.describeBroker(req.IncludeSynonyms)
			}
		default:
			code, msg = kerr.InvalidRequest, "only topic and broker configs can be described"
		}
		if code != nil {
			r.ErrorCode, r.ErrorMessage = code.Code, &msg
		}
		r.Configs = keepConfigs(r.Configs, rr.ConfigNames)
		resp.Resources = append(resp.Resources, r)
	}
	return resp, nil
}

func (b *Broker) describeTopic(name string, synonyms bool) ([]kmsg.DescribeConfigsResponseResourceConfig, *kerr.Error, string) {
	t, ok := b.topics.get(name)
	if !ok {
		if err := validTopicName(name); err != nil {
			return nil, kerr.InvalidTopicException, clientMessage(err)
		}
		return nil, kerr.UnknownTopicOrPartition, "no topic named " + name
	}
	return b.describeTopicConfigs(b.topics.view(t).configs, synonyms), nil, ""
}

// checkBrokerResource accepts this broker's id or an empty name (which
// Kafka reads as "the broker you are talking to").
func (b *Broker) checkBrokerResource(name string) (*kerr.Error, string) {
	if name == "" || name == strconv.Itoa(int(b.cfg.NodeID)) {
		return nil, ""
	}
	return kerr.InvalidRequest, "this is broker " + strconv.Itoa(int(b.cfg.NodeID)) + ", not " + name
}

// keepConfigs filters configs to the names asked for; nil asks for all.
func keepConfigs(cs []kmsg.DescribeConfigsResponseResourceConfig, names []string) []kmsg.DescribeConfigsResponseResourceConfig {
	if names == nil {
		return cs
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	keep := cs[:0]
	for _, c := range cs {
		if want[c.Name] {
			keep = append(keep, c)
		}
	}
	return keep
}

var configTypes = map[string]kmsg.ConfigType{
	"BOOLEAN": kmsg.ConfigTypeBoolean, "STRING": kmsg.ConfigTypeString, "INT": kmsg.ConfigTypeInt,
	"SHORT": kmsg.ConfigTypeShort, "LONG": kmsg.ConfigTypeLong, "LIST": kmsg.ConfigTypeList,
}

// brokerSource is how a broker setting is shown: DEFAULT_CONFIG when it
// is Kafka's default, STATIC_BROKER_CONFIG when the broker was started
// with another value.
func brokerSource(value, kafkaDefault string) kmsg.ConfigSource {
	if value == kafkaDefault {
		return kmsg.ConfigSourceDefaultConfig
	}
	return kmsg.ConfigSourceStaticBrokerConfig
}

// describeTopicConfigs lists every topic config with the value a topic
// whose own configs are own has. CreateTopics v5+ shows the same list.
func (b *Broker) describeTopicConfigs(own map[string]string, synonyms bool) []kmsg.DescribeConfigsResponseResourceConfig {
	kafkaDefaults := DefaultConfig()
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(topicConfigs))
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		brokerValue := tc.def(&b.cfg)
		brokerSyn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		brokerSyn.Name, brokerSyn.Value = tc.brokers, kmsg.StringPtr(brokerValue)
		brokerSyn.Source = brokerSource(brokerValue, tc.def(&kafkaDefaults))

		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name, rc.ConfigType = tc.name, configTypes[tc.kind]
		rc.Value, rc.Source = brokerSyn.Value, brokerSyn.Source
		if v, ok := own[tc.name]; ok {
			rc.Value, rc.Source = kmsg.StringPtr(v), kmsg.ConfigSourceDynamicTopicConfig
			if synonyms {
				s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				s.Name, s.Value, s.Source = tc.name, rc.Value, rc.Source
				rc.ConfigSynonyms = append(rc.ConfigSynonyms, s)
			}
		}
		if synonyms {
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, brokerSyn)
		}
		rc.IsDefault = rc.Source == kmsg.ConfigSourceDefaultConfig
		out = append(out, rc)
	}
	return out
}

// brokerSetting is one of the broker's settings as DescribeConfigs shows it.
type brokerSetting struct {
	name, kind string
	get        func(*Config) string
}

var brokerSettings = []brokerSetting{
	{"node.id", "INT", func(c *Config) string { return strconv.Itoa(int(c.NodeID)) }},
	{"broker.id", "INT", func(c *Config) string { return strconv.Itoa(int(c.NodeID)) }},
	{"log.dirs", "STRING", func(c *Config) string { return c.DataDir }},
	{"auto.create.topics.enable", "BOOLEAN", func(c *Config) string { return strconv.FormatBool(c.AutoCreateTopics) }},
	{"num.partitions", "INT", func(c *Config) string { return strconv.Itoa(int(c.NumPartitions)) }},
	{"default.replication.factor", "SHORT", func(c *Config) string { return strconv.Itoa(int(c.DefaultReplicationFactor)) }},
	{"socket.request.max.bytes", "INT", func(c *Config) string { return strconv.Itoa(int(c.SocketRequestMaxBytes)) }},
	{"log.retention.check.interval.ms", "LONG", func(c *Config) string { return msString(c.MaintenanceInterval) }},
}

// describeBroker lists the broker's settings, then the broker-level
// defaults of every topic config (log.retention.ms, message.max.bytes, ...).
func (b *Broker) describeBroker(synonyms bool) []kmsg.DescribeConfigsResponseResourceConfig {
	kafkaDefaults := DefaultConfig()
	var out []kmsg.DescribeConfigsResponseResourceConfig
	seen := map[string]bool{}
	add := func(name, kind, value, kafkaDefault string) {
		if seen[name] {
			return
		}
		seen[name] = true
		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name, rc.Value, rc.ConfigType, rc.ReadOnly = name, kmsg.StringPtr(value), configTypes[kind], true
		rc.Source = brokerSource(value, kafkaDefault)
		rc.IsDefault = rc.Source == kmsg.ConfigSourceDefaultConfig
		if synonyms {
			s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			s.Name, s.Value, s.Source = name, rc.Value, rc.Source
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, s)
		}
		out = append(out, rc)
	}
	for _, s := range brokerSettings {
		add(s.name, s.kind, s.get(&b.cfg), s.get(&kafkaDefaults))
	}
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		add(tc.brokers, tc.kind, tc.def(&b.cfg), tc.def(&kafkaDefaults))
	}
	return out
}
