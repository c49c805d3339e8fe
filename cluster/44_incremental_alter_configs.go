package cluster

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs: v0-1
//
// Changes some of a topic's configs and keeps the others (KIP-339): SET
// gives a config a value, DELETE returns it to the broker default, APPEND
// and SUBTRACT add items to or remove them from a list config
// (cleanup.policy), starting from the broker default when the topic has
// no value of its own. APPEND or SUBTRACT on a config that is not a list,
// an unknown config, or a result that is not valid answers INVALID_CONFIG
// with the reason; an unknown operation, a config named twice in one
// resource, or a resource named twice in one request INVALID_REQUEST. The
// operations of one resource apply together or not at all, and take
// effect on the live partition logs at once. ValidateOnly checks and
// changes nothing. BROKER resources answer INVALID_REQUEST: broker
// configs are fixed when the broker starts.
//
// Version notes: v1 flexible.

func init() { register(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	alterEach(len(req.Resources),
		func(i int) (kmsg.ConfigResourceType, string) {
			return req.Resources[i].ResourceType, req.Resources[i].ResourceName
		},
		func(i int) (*kerr.Error, string) {
			return b.incrementalAlterConfigs(&req.Resources[i], req.ValidateOnly)
		},
		func(i int, code int16, msg *string) {
			r := kmsg.NewIncrementalAlterConfigsResponseResource()
			r.ResourceType, r.ResourceName = req.Resources[i].ResourceType, req.Resources[i].ResourceName
			r.ErrorCode, r.ErrorMessage = code, msg
			resp.Resources = append(resp.Resources, r)
		})
	return resp, nil
}

func (b *Broker) incrementalAlterConfigs(rr *kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (*kerr.Error, string) {
	if code, msg := b.checkAlterResource(rr.ResourceType, rr.ResourceName); code != nil {
		return code, msg
	}
	if code, msg := checkConfigOps(rr.Configs); code != nil {
		return code, msg
	}
	edit := func(cur map[string]string) (map[string]string, error) {
		for _, c := range rr.Configs {
			tc := topicConfigByName[c.Name]
			switch c.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				cur[c.Name] = *c.Value
			case kmsg.IncrementalAlterConfigOpDelete:
				delete(cur, c.Name)
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				base, ok := cur[c.Name]
				if !ok {
					base = tc.def(&b.cfg)
				}
				cur[c.Name] = editList(base, *c.Value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
			}
		}
		return cur, nil
	}
	return b.alterTopicConfigs(rr.ResourceName, edit, validateOnly)
}

// checkConfigOps checks what does not depend on the topic's current
// configs: known names and operations, each name once, values present.
func checkConfigOps(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (*kerr.Error, string) {
	seen := make(map[string]bool, len(ops))
	for _, c := range ops {
		if seen[c.Name] {
			return kerr.InvalidRequest, fmt.Sprintf("config %s given more than once", c.Name)
		}
		seen[c.Name] = true
		tc, ok := topicConfigByName[c.Name]
		if !ok {
			return kerr.InvalidConfig, fmt.Sprintf("unknown topic config %q", c.Name)
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpDelete:
			continue
		case kmsg.IncrementalAlterConfigOpSet:
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if tc.kind != "LIST" {
				return kerr.InvalidConfig, fmt.Sprintf("%s is not a list: only SET and DELETE apply to it", c.Name)
			}
		default:
			return kerr.InvalidRequest, fmt.Sprintf("unknown operation %d on config %s", c.Op, c.Name)
		}
		if c.Value == nil {
			return kerr.InvalidConfig, fmt.Sprintf("config %s has a null value", c.Name)
		}
	}
	return nil, ""
}

// editList adds the items of change to the comma-separated list base
// (those it lacks, in order) or removes them from it.
func editList(base, change string, add bool) string {
	items := splitList(base)
	for _, item := range splitList(change) {
		at := -1
		for i, have := range items {
			if have == item {
				at = i
				break
			}
		}
		switch {
		case add && at < 0:
			items = append(items, item)
		case !add && at >= 0:
			items = append(items[:at], items[at+1:]...)
		}
	}
	return strings.Join(items, ",")
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
