package cluster

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions: v0-4
//
// Lists every registered API with the versions this broker serves. A
// version above 4 is answered with a v0 UNSUPPORTED_VERSION response
// (KIP-511, see unsupportedApiVersions), so newer clients retry lower.

func init() { register(18, 0, 4, handleApiVersions) }

func handleApiVersions(b *Broker, _ *clientConn, h requestHeader, req kmsg.Request) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k, advertisedMin(k), apis[k].max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	return resp, nil
}

// advertisedMin is the lowest version ApiVersions lists for an API. Produce
// lists v0 though only v3+ is served (a v0-2 request closes the connection),
// as Kafka 4 does (KAFKA-18659): librdkafka (kcat) checks for Produce v0
// before it compresses with gzip, snappy or lz4, and silently sends
// uncompressed batches to a broker that does not list it.
func advertisedMin(k int16) int16 {
	if k == 0 {
		return 0
	}
	return apis[k].min
}
