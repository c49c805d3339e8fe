package main

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestClickstreamOnKfake runs the same clickstream binary, unchanged,
// against franz-go's in-memory fake Kafka (kfake) instead of runnel: the
// runtime is a plain Kafka client (its own group balancer, internal
// topics created through the admin API), and the counts are exact.
func TestClickstreamOnKfake(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(inputPartitions, ClicksTopic, UsersTopic), kfake.SeedTopics(outputPartitions, OutputTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	cl, adm := adminClient(t, brokers)
	in := startInstance(t, binary(t), "instance on kfake", brokers, "--threads", "2")
	waitBalanced(t, numTasks, in)
	data := makeDataset(numSegments)
	feed(t, cl, adm, data, nil)
	checkResults(t, readResults(t, brokers), data.want(), true)
	t.Logf("%v: %d windows exact on kfake", time.Since(start).Round(time.Millisecond), len(data.want()))
}
