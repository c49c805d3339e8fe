package log

import "math"

// recordsWellFormed reports whether walkRecords(raw, count,
// lastOffsetDelta, nil) would accept raw: the same checks, in a flat loop
// that builds no Record and no error. It is the fast path of CheckRecords,
// which a broker runs on every produced batch; on false, CheckRecords asks
// walkRecords why. FuzzRecordsWellFormed checks that the two agree.
func recordsWellFormed(raw []byte, count, lastOffsetDelta int32) bool {
	if count < 0 || int64(count) > int64(len(raw)/recordSizeMin) {
		return false
	}
	prev := int32(-1)
	i := 0
	for range count {
		length, j := varint32From(raw, i)
		if j < 0 || length < 0 || int(length) > len(raw)-j {
			return false
		}
		i = j + int(length)
		delta, ok := recordWellFormed(raw[j:i])
		if !ok || delta <= prev || delta > lastOffsetDelta { // prev starts at -1: no negative delta
			return false
		}
		prev = delta
	}
	return i == len(raw)
}

// recordWellFormed checks the fields of one record, its length varint
// removed, as decodeRecord does, and returns its offset delta.
func recordWellFormed(rec []byte) (offsetDelta int32, ok bool) {
	if len(rec) == 0 {
		return 0, false
	}
	i := 2 // the attributes, and a timestamp delta of one byte
	if len(rec) < 2 || rec[1] >= 0x80 {
		_, n := readVarint(rec[1:], varint64BytesMax)
		if n == 0 {
			return 0, false
		}
		i = 1 + n
	}
	delta, i := varint32From(rec, i)
	i = skipNullable(rec, i) // key
	i = skipNullable(rec, i) // value
	headers, i := varint32From(rec, i)
	if i < 0 || headers < 0 || headers > 0 && int(headers) > (len(rec)-i)/2 {
		return 0, false
	}
	for range headers {
		var keyLen int32
		if keyLen, i = varint32From(rec, i); i < 0 || keyLen < 0 || int(keyLen) > len(rec)-i {
			return 0, false // a header key is never null
		}
		if i = skipNullable(rec, i+int(keyLen)); i < 0 { // the value
			return 0, false
		}
	}
	return delta, i == len(rec)
}

// varint32From decodes the zigzag varint of at most five bytes at b[i:]
// that must fit in an int32, as decodeRecord's fields do, and returns it
// with the index after it; the index is -1 if there is no such varint
// there, or if i is already -1.
func varint32From(b []byte, i int) (int32, int) {
	var ux uint64
	for j := i; uint(j) < uint(len(b)) && j < i+varint32BytesMax; j++ {
		ux |= uint64(b[j]&0x7f) << (7 * (j - i))
		if b[j] < 0x80 {
			if ux > math.MaxUint32 { // zigzag: outside the int32 range
				return 0, -1
			}
			return int32(uint32(ux)>>1) ^ -int32(ux&1), j + 1
		}
	}
	return 0, -1
}

// skipNullable skips, from b[i:], a varint length (-1 for null) and that
// many bytes, and returns the index after them, or -1.
func skipNullable(b []byte, i int) int {
	l, j := varint32From(b, i)
	if j < 0 || l < -1 || int(l) > len(b)-j {
		return -1
	}
	return j + max(int(l), 0)
}
