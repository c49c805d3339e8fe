package main

import (
	"time"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

// Topics of the sessions example.
const (
	// ClicksTopic holds one record per click: key the user id, value a
	// JSON Click, timestamp the time of the click (the clickstream
	// example's input).
	ClicksTopic = "clicks"
	// OutputTopic gets every change of a user's sessions: key the user id
	// and the session's bounds (Kafka Streams' session-windowed key
	// format, see stream.SessionWindowedSerde), value the session's click
	// count as an 8-byte integer, or a tombstone when a session is
	// replaced by a longer one.
	OutputTopic = "user-sessions"
)

// A session ends after 30 s without a click from its user; clicks up to
// 10 s out of order still join (or merge) sessions.
const (
	InactivityGap = 30 * time.Second
	Grace         = 10 * time.Second
)

// Click is the value of a click record.
type Click struct {
	Page string `json:"page"`
}

// Topology counts each user's clicks per session. Sessions are emitted on
// every update: each click writes its session's new count, and a
// tombstone for the session's previous bounds (or for the two sessions a
// late click joins into one).
func Topology() (*stream.Topology, error) {
	b := stream.NewBuilder()
	clicks := stream.From(b, ClicksTopic, serde.String, serde.JSON[Click]())
	sessions := stream.GroupByKey(clicks).SessionWindowedBy(stream.Sessions(InactivityGap).Grace(Grace)).Count(stream.Named("sessions"))
	stream.ToStream(sessions).To(OutputTopic)
	return b.Build()
}

// OutputKeySerde is the serde of the output keys.
var OutputKeySerde = stream.SessionWindowedSerde(serde.String)
