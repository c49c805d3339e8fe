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
		v.ApiKey, v.MinVersion, v.MaxVersion = k, apis[k].min, apis[k].max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	return resp, nil
}
