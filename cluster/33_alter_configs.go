package cluster

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs: v0-2
//
// Replaces all of a topic's own configs with the ones given, as Kafka's
// (non-incremental) AlterConfigs does: a config left out, or given a null
// value, goes back to the broker default. The new set is checked as a
// whole (INVALID_CONFIG with the reason) and takes effect on the live
// partition logs at once. ValidateOnly checks and changes nothing. A
// resource named twice in one request, or a config named twice in one
// resource, answers INVALID_REQUEST. Broker configs are fixed when the
// broker starts, so BROKER resources answer INVALID_REQUEST (as Kafka does
// for settings it cannot change dynamically).
//
// Version notes: v1 ThrottleMillis; v2 flexible. Deprecated by
// IncrementalAlterConfigs (KIP-339), which clients prefer.

func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	alterEach(len(req.Resources),
		func(i int) (kmsg.ConfigResourceType, string) {
			return req.Resources[i].ResourceType, req.Resources[i].ResourceName
		},
		func(i int) (*kerr.Error, string) { return b.alterConfigs(&req.Resources[i], req.ValidateOnly) },
		func(i int, code int16, msg *string) {
			r := kmsg.NewAlterConfigsResponseResource()
			r.ResourceType, r.ResourceName = req.Resources[i].ResourceType, req.Resources[i].ResourceName
			r.ErrorCode, r.ErrorMessage = code, msg
			resp.Resources = append(resp.Resources, r)
		})
	return resp, nil
}

// alterEach answers the n resources of an (Incremental)AlterConfigs
// request in order: alter changes resource i, unless it is named more than
// once in the request (INVALID_REQUEST); answer records the outcome.
func alterEach(n int, at func(int) (kmsg.ConfigResourceType, string), alter func(int) (*kerr.Error, string), answer func(i int, code int16, msg *string)) {
	dups := dupResources(n, at)
	for i := 0; i < n; i++ {
		code, msg := kerr.InvalidRequest, "resource named more than once in one request"
		if !dups[i] {
			code, msg = alter(i)
		}
		if code == nil {
			answer(i, 0, nil)
			continue
		}
		answer(i, code.Code, &msg)
	}
}

func (b *Broker) alterConfigs(rr *kmsg.AlterConfigsRequestResource, validateOnly bool) (*kerr.Error, string) {
	if code, msg := b.checkAlterResource(rr.ResourceType, rr.ResourceName); code != nil {
		return code, msg
	}
	next := make(map[string]string, len(rr.Configs))
	seen := make(map[string]bool, len(rr.Configs))
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return kerr.InvalidRequest, fmt.Sprintf("config %s given more than once", c.Name)
		}
		seen[c.Name] = true
		if _, ok := topicConfigByName[c.Name]; !ok {
			return kerr.InvalidConfig, fmt.Sprintf("unknown topic config %q", c.Name)
		}
		if c.Value != nil {
			next[c.Name] = *c.Value
		}
	}
	replace := func(map[string]string) (map[string]string, error) { return next, nil }
	return b.alterTopicConfigs(rr.ResourceName, replace, validateOnly)
}

// checkAlterResource refuses what cannot be altered: broker configs (fixed
// at start) and anything but topics and brokers.
func (b *Broker) checkAlterResource(typ kmsg.ConfigResourceType, name string) (*kerr.Error, string) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return nil, ""
	case kmsg.ConfigResourceTypeBroker:
		if code, msg := b.checkBrokerResource(name); code != nil {
			return code, msg
		}
		return kerr.InvalidRequest, "broker configs cannot be changed while the broker runs: restart it with new settings"
	}
	return kerr.InvalidRequest, "only topic configs can be altered"
}

// alterTopicConfigs applies edit to a topic's configs and answers the
// resource's code and message.
func (b *Broker) alterTopicConfigs(name string, edit func(map[string]string) (map[string]string, error), validateOnly bool) (*kerr.Error, string) {
	err := b.topics.setConfigs(name, edit, validateOnly)
	switch {
	case err == nil:
		return nil, ""
	case errors.Is(err, errUnknownTopic):
		if verr := validTopicName(name); verr != nil {
			return kerr.InvalidTopicException, clientMessage(verr)
		}
		return kerr.UnknownTopicOrPartition, "no topic named " + name
	}
	return createErrorCode(err), clientMessage(err)
}

// dupResources marks the resources named more than once in a request.
func dupResources(n int, at func(int) (kmsg.ConfigResourceType, string)) []bool {
	type key struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	count := make(map[key]int, n)
	for i := 0; i < n; i++ {
		t, name := at(i)
		count[key{t, name}]++
	}
	dups := make([]bool, n)
	for i := range dups {
		t, name := at(i)
		dups[i] = count[key{t, name}] > 1
	}
	return dups
}
