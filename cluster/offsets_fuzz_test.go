package cluster

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzOffsetRecords feeds arbitrary keys and values of __consumer_offsets
// records to the decoder the startup replay uses, and what decodes to the
// replay's apply: nothing panics; a record that decodes encodes to bytes
// that decode to the same record and encode to the same bytes again; a
// tombstone stays a tombstone.
//
//	go test -run '^$' -fuzz '^FuzzOffsetRecords$' -fuzztime 60s -parallel 1 ./cluster/
func FuzzOffsetRecords(f *testing.F) {
	for _, r := range seedOffsetRecords() {
		f.Add(r.appendKey(nil), r.appendValue(nil), r.commit == nil && r.meta == nil)
	}
	f.Add([]byte{}, []byte{}, false)
	f.Add([]byte{0, 1}, []byte{0, 3}, false)
	f.Add([]byte{0, 2, 0xff, 0xff}, []byte{0, 4, 0x80}, false) // a null group, a bad varint
	f.Add([]byte{0, 3, 0, 0}, []byte{0, 0}, false)             // a KIP-848 key

	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		} else if value == nil {
			value = []byte{}
		}
		r, err := decodeOffsetRecord(key, value)
		if err != nil {
			return
		}
		sh := &offsetShard{}
		sh.mu.groups = map[string]*groupOffsets{}
		sh.applyLocked(&r)

		k2, v2 := r.appendKey(nil), r.appendValue(nil)
		if (v2 == nil) != (value == nil) {
			t.Fatalf("tombstone %v re-encoded as %x", value == nil, v2)
		}
		r2, err := decodeOffsetRecord(k2, v2)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v\nkey %x value %x", err, k2, v2)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("decode-encode-decode changed the record:\n%+v\n%+v", r, r2)
		}
		if k3, v3 := r2.appendKey(nil), r2.appendValue(nil); !bytes.Equal(k2, k3) || !bytes.Equal(v2, v3) {
			t.Fatalf("encoding is not stable:\n%x %x\n%x %x", k2, v2, k3, v3)
		}
	})
}

// seedOffsetRecords are records of every kind and version we read.
func seedOffsetRecords() []offsetRecord {
	tp := topicPartition{"t", 3}
	var out []offsetRecord
	for v := int16(0); v <= commitValueMax; v++ {
		r := commitRecord("g", tp, committedOffset{offset: 42, leaderEpoch: 7, metadata: "meta", commitMs: 1700000000000, expireMs: 1800000000000})
		r.commit.Version = v
		if v == 4 {
			r.commit.TopicID = [16]byte{1, 2, 3}
			r.commit.UnknownTags.Set(9, []byte("tag"))
		}
		out = append(out, r)
	}
	out = append(out, commitTombstone("g", tp))
	k0 := commitTombstone("", topicPartition{"", -1})
	k0.keyVersion = 0
	out = append(out, k0)
	for v := int16(0); v <= groupValueMax; v++ {
		meta := new(kmsg.GroupMetadataValue)
		if err := meta.ReadFrom(consumerGroupValue(5, "a", "b")); err != nil {
			panic(err)
		}
		meta.Version = v
		meta.Members[0].InstanceID = kmsg.StringPtr("static-1")
		if v == 4 {
			meta.UnknownTags.Set(3, []byte{1})
			meta.Members[0].UnknownTags.Set(1, []byte{2})
		}
		out = append(out, offsetRecord{keyVersion: groupKeyVersion, group: "g", meta: meta})
	}
	empty := kmsg.NewGroupMetadataValue()
	empty.Version = 3
	out = append(out, offsetRecord{keyVersion: groupKeyVersion, group: "g", meta: &empty})
	out = append(out, offsetRecord{keyVersion: groupKeyVersion, group: "g"}) // tombstone
	return out
}

// TestOffsetRecordsRoundTrip: every seed record encodes and decodes to
// itself, and the versions we write are the ones Kafka writes.
func TestOffsetRecordsRoundTrip(t *testing.T) {
	for i, r := range seedOffsetRecords() {
		got, err := decodeOffsetRecord(r.appendKey(nil), r.appendValue(nil))
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if !bytes.Equal(got.appendKey(nil), r.appendKey(nil)) || !bytes.Equal(got.appendValue(nil), r.appendValue(nil)) {
			t.Fatalf("seed %d: round trip changed the bytes", i)
		}
	}
	c := commitRecord("g", topicPartition{"t", 0}, committedOffset{offset: 1, leaderEpoch: -1, expireMs: -1})
	if c.keyVersion != 1 || c.commit.Version != 3 {
		t.Fatalf("commit written as key v%d value v%d", c.keyVersion, c.commit.Version)
	}
	c = commitRecord("g", topicPartition{"t", 0}, committedOffset{offset: 1, leaderEpoch: -1, expireMs: 5})
	if c.commit.Version != 1 || c.commit.ExpireTimestamp != 5 {
		t.Fatalf("a commit with its own retention written as v%d", c.commit.Version)
	}
}
