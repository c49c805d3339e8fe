package main

import (
	"strings"
	"unicode"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

// Topics of the word count.
const (
	InputTopic  = "lines"
	OutputTopic = "word-counts"
)

// Topology counts words: each line of the input topic is split into
// lower-cased words, regrouped by word (through a repartition topic) and
// counted; every new count is written to the output topic.
func Topology() (*stream.Topology, error) {
	b := stream.NewBuilder()
	lines := stream.From(b, InputTopic, serde.String, serde.String)
	words := stream.FlatMapValues(lines, split)
	counts := stream.GroupBy(words, func(_, w string) string { return w }).Count(stream.Named("counts"))
	stream.ToStream(counts).To(OutputTopic)
	return b.Build()
}

func split(line string) []string {
	return strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '\''
	})
}
