package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// A Fetch response is written around its records: kmsg encodes everything
// but the records, and each partition's records follow their length
// prefix straight from the log, by sendfile(2) on a TCP connection. The
// records are never copied into the broker's memory, and never decoded.
//
// Where the records go: kmsg writes a partition's RecordBatches as
// nullable bytes, and writes a null one in exactly as many bytes as an
// empty one (int32 -1 and 0; flexible versions, uvarint 0 and 1), and
// changes nothing else. Encoding the response once with every partition
// that has records null and once with them empty therefore gives two
// frames of one length that differ in these prefixes only, in the order
// of the partitions: the layout is found from kmsg's own encoder, for
// every version, and checked byte for byte.

// spliceMinBytes is the record bytes from which a response is sent in
// pieces with sendfile; below it, the records are copied into the frame
// and written with the rest in one write, which costs fewer system calls
// for the small fetches of a consumer at the log end.
const spliceMinBytes = 64 << 10

// fetchResponse is a Fetch response whose records are still in the log.
type fetchResponse struct {
	*kmsg.FetchResponse
	b    *Broker
	recs []fetchRecords // the partitions with records, in encoding order
}

// fetchRecords is one partition's records: a slice of its log, held open
// until the response is written.
type fetchRecords struct {
	p     *partition
	out   *kmsg.FetchResponseTopicPartition
	slice recordSource
}

// recordSource is what a response needs of a log slice (*rlog.Slice).
type recordSource interface {
	Len() int
	WriteTo(w io.Writer) (int64, error)
	AppendTo(dst []byte) ([]byte, error)
	Close()
}

var _ recordSource = (*rlog.Slice)(nil)

var _ frameWriter = (*fetchResponse)(nil)

func (r *fetchResponse) release() {
	for i := range r.recs {
		r.recs[i].slice.Close()
	}
	r.recs = nil
}

// errShortRecords means the log gave fewer bytes than a slice held, after
// their length went out: the frame cannot be finished, and the connection
// closes (the client retries). A Slice pins its segment's file against
// retention and compaction; only TruncateTo (a follower's) shrinks it.
var errShortRecords = errors.New("cluster: fetch: the log gave fewer record bytes than the response announced")

// writeFrame writes the whole frame: in pieces around the records on a TCP
// connection with spliceMinBytes of them or more, else copied into one
// buffer and written at once.
func (r *fetchResponse) writeFrame(c io.Writer, tcp bool, corr int32, buf []byte) ([]byte, error) {
	total := 0
	for _, rec := range r.recs {
		total += rec.slice.Len()
	}
	if !tcp || total < spliceMinBytes {
		return r.writeCopied(c, corr, buf)
	}
	return r.writeSpliced(c, corr, buf)
}

// fetchSplices counts the responses sent in pieces, for tests.
var fetchSplices atomic.Int64

// writeSpliced writes the frame's encoded pieces and, between them, each
// partition's records with the slice's WriteTo (sendfile to a socket).
func (r *fetchResponse) writeSpliced(c io.Writer, corr int32, buf []byte) ([]byte, error) {
	fetchSplices.Add(1)
	head, cuts, err := r.layout(buf[:0], corr)
	if err != nil {
		return head, err
	}
	prev := 0
	for i, cut := range cuts {
		if _, err := c.Write(head[prev:cut]); err != nil {
			return head, err
		}
		prev = cut
		s := r.recs[i].slice
		n, err := s.WriteTo(c)
		if err == nil && n != int64(s.Len()) {
			err = errShortRecords
		}
		if err != nil {
			return head, fmt.Errorf("cluster: fetch: send %d record bytes of partition %d: %w", s.Len(), r.recs[i].out.Partition, err)
		}
	}
	_, err = c.Write(head[prev:])
	return head, err
}

// writeCopied reads the records into the frame, in place, and writes it in
// one write. A partition whose records cannot be read answers its error
// code instead (nothing is sent until every read succeeded).
func (r *fetchResponse) writeCopied(c io.Writer, corr int32, buf []byte) ([]byte, error) {
	for range len(r.recs) + 1 { // each pass succeeds or drops a partition
		head, cuts, err := r.layout(buf[:0], corr)
		buf = head
		if err != nil {
			return buf, err
		}
		size := len(head)
		for _, rec := range r.recs {
			size += rec.slice.Len()
		}
		// The frame is built after the head, in the same buffer.
		if cap(buf) < len(head)+size {
			buf = growFrame(head, len(head)+size)
			head = buf[:len(head)]
		}
		frame, failed := r.copyRecords(buf[len(head):len(head)], head, cuts)
		if failed < 0 {
			_, err := c.Write(frame)
			return buf, err
		}
		r.drop(failed)
	}
	return buf, errors.New("cluster: fetch: record reads kept failing")
}

// copyRecords appends head with each partition's records read in at its
// cut to frame; failed is the index of the first partition whose read
// failed (its error code is set), or -1.
func (r *fetchResponse) copyRecords(frame, head []byte, cuts []int) ([]byte, int) {
	prev := 0
	for i, cut := range cuts {
		frame = append(frame, head[prev:cut]...)
		prev = cut
		var err error
		if frame, err = r.recs[i].slice.AppendTo(frame); err != nil {
			r.recs[i].out.ErrorCode = r.b.fetchReadError(r.recs[i].p, err).Code
			return frame, i
		}
	}
	return append(frame, head[prev:]...), -1
}

// drop closes partition i's slice: it answers with no records.
func (r *fetchResponse) drop(i int) {
	r.recs[i].slice.Close()
	r.recs = append(r.recs[:i], r.recs[i+1:]...)
}

// layout appends to dst the frame without its records, each partition's
// records length prefix included, and returns it with the positions in it
// where each partition's records go (cuts[i] for recs[i]). The frame's
// size counts the records.
func (r *fetchResponse) layout(dst []byte, corr int32) (head []byte, cuts []int, err error) {
	if len(r.recs) == 0 {
		return appendResponse(dst, corr, r.FetchResponse), nil, nil
	}
	for _, rec := range r.recs {
		rec.out.RecordBatches = nil
	}
	dst = appendResponse(dst, corr, r.FetchResponse)
	nulls := len(dst)
	for _, rec := range r.recs {
		rec.out.RecordBatches = []byte{}
	}
	dst = appendResponse(dst, corr, r.FetchResponse)
	a, e := dst[:nulls], dst[nulls:]
	if len(a) != len(e) {
		return dst[:0], nil, fmt.Errorf("cluster: fetch response layout: %d bytes with null records, %d with empty ones", len(a), len(e))
	}
	null, empty := []byte{0xff, 0xff, 0xff, 0xff}, []byte{0, 0, 0, 0}
	if r.IsFlexible() {
		null, empty = []byte{0}, []byte{1}
	}
	// The head is built after both encodings, then moved to dst's start.
	head = dst[len(dst):]
	cuts = make([]int, 0, len(r.recs))
	prev, pos := 0, 0
	for i := range r.recs {
		for pos < len(a) && a[pos] == e[pos] {
			pos++
		}
		w := len(null)
		if pos+w > len(a) || string(a[pos:pos+w]) != string(null) || string(e[pos:pos+w]) != string(empty) {
			return dst[:0], nil, fmt.Errorf("cluster: fetch response v%d layout: partition %d of %d: no records field at %d", r.Version, i, len(r.recs), pos)
		}
		head = append(head, e[prev:pos]...)
		n := r.recs[i].slice.Len()
		if r.IsFlexible() {
			head = binary.AppendUvarint(head, uint64(n)+1)
		} else {
			head = binary.BigEndian.AppendUint32(head, uint32(n))
		}
		cuts = append(cuts, len(head))
		pos += w
		prev = pos
	}
	if string(a[pos:]) != string(e[pos:]) {
		return dst[:0], nil, fmt.Errorf("cluster: fetch response v%d layout: more records fields than the %d partitions with records", r.Version, len(r.recs))
	}
	head = append(head, e[prev:]...)
	size := len(head) - 4
	for _, rec := range r.recs {
		size += rec.slice.Len()
	}
	binary.BigEndian.PutUint32(head, uint32(size))
	if n := copy(dst[:cap(dst)], head); n != len(head) {
		return dst[:0], nil, fmt.Errorf("cluster: fetch response layout: a head of %d bytes after encodings of %d", len(head), len(dst))
	}
	return dst[:len(head)], cuts, nil
}
