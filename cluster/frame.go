package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors that close a connection: the peer is not speaking the protocol.
var (
	ErrFrameTooLarge  = errors.New("cluster: request frame over socket.request.max.bytes")
	ErrFrameMalformed = errors.New("cluster: malformed request frame")
)

// requestHeader is the fixed part of every Kafka request (header v1/v2).
type requestHeader struct {
	key           int16
	version       int16
	correlationID int32
	clientID      string
}

// readFrame reads one size-prefixed frame, refusing sizes over max before
// allocating anything. It takes buf (which may be nil) and returns the
// frame in a buffer the caller then owns: buf itself, or a pooled buffer
// that replaced it (buf is then back in the pool). On an error every
// buffer is back in the pool.
func readFrame(r io.Reader, max int32, buf []byte) (_ []byte, err error) {
	defer func() {
		if err != nil {
			putBuf(buf)
		}
	}()
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 0 || n > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	if n < 8 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a header", ErrFrameMalformed, n)
	}
	// An idle pooled buffer of the frame's size costs no new memory: take
	// it. Otherwise grow the buffer as the body arrives instead of
	// trusting the size: a peer that claims the limit and sends nothing
	// must not cost the limit in memory, or a few hundred such
	// connections exhaust it.
	if cap(buf) < int(n) {
		if b := pooledBuf(int(n)); b != nil {
			putBuf(buf)
			buf = b
		}
	}
	buf = buf[:0]
	for len(buf) < int(n) {
		if len(buf) == cap(buf) {
			buf = growFrame(buf, min(int(n), 4*len(buf)+frameChunkBytes))
		}
		k, err := io.ReadFull(r, buf[len(buf):min(cap(buf), int(n))])
		buf = buf[:len(buf)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// growFrame moves buf's bytes to a pooled buffer with room for n and gives
// buf back to the pool.
func growFrame(buf []byte, n int) []byte {
	b := append(getBuf(n), buf...)
	putBuf(buf)
	return b
}

// frameChunkBytes is the first allocation for a frame's body (most frames
// fit); it grows fourfold as the bytes arrive.
const frameChunkBytes = 64 << 10

// parseRequest decodes a frame's header and body. A known key at an
// unsupported version is returned with errUnsupportedVersion so that the
// caller can answer ApiVersions as Kafka does (and close otherwise).
func parseRequest(frame []byte) (requestHeader, kmsg.Request, error) {
	var h requestHeader
	if len(frame) < 10 {
		return h, nil, fmt.Errorf("%w: %d bytes", ErrFrameMalformed, len(frame))
	}
	be := binary.BigEndian
	h.key = int16(be.Uint16(frame[0:]))
	h.version = int16(be.Uint16(frame[2:]))
	h.correlationID = int32(be.Uint32(frame[4:]))
	idLen := int(int16(be.Uint16(frame[8:])))
	rest := frame[10:]
	if idLen > 0 {
		if idLen > len(rest) {
			return h, nil, fmt.Errorf("%w: client id of %d bytes in %d", ErrFrameMalformed, idLen, len(rest))
		}
		h.clientID = string(rest[:idLen])
		rest = rest[idLen:]
	} else if idLen < -1 {
		return h, nil, fmt.Errorf("%w: client id length %d", ErrFrameMalformed, idLen)
	}
	api, ok := apis[h.key]
	if !ok {
		return h, nil, fmt.Errorf("%w: unknown api key %d", ErrFrameMalformed, h.key)
	}
	if h.version < api.min || h.version > api.max {
		return h, nil, fmt.Errorf("%w: %s v%d (supported %d-%d)", errUnsupportedVersion, kmsg.NameForKey(h.key), h.version, api.min, api.max)
	}
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if req.IsFlexible() {
		var err error
		if rest, err = skipTaggedFields(rest); err != nil {
			return h, nil, err
		}
	}
	if err := req.ReadFrom(rest); err != nil {
		return h, nil, fmt.Errorf("%w: %s v%d body: %v", ErrFrameMalformed, kmsg.NameForKey(h.key), h.version, err)
	}
	return h, req, nil
}

var errUnsupportedVersion = errors.New("cluster: unsupported api version")

// skipTaggedFields skips a flexible header's tagged fields.
func skipTaggedFields(b []byte) ([]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: header tagged fields", ErrFrameMalformed)
	}
	b = b[used:]
	for i := uint64(0); i < n; i++ {
		_, u1 := binary.Uvarint(b) // tag
		if u1 <= 0 {
			return nil, fmt.Errorf("%w: header tag", ErrFrameMalformed)
		}
		b = b[u1:]
		size, u2 := binary.Uvarint(b)
		if u2 <= 0 || size > uint64(len(b)-u2) {
			return nil, fmt.Errorf("%w: header tag size", ErrFrameMalformed)
		}
		b = b[u2+int(size):]
	}
	return b, nil
}

// appendResponse appends a whole response frame: size, correlation id, the
// flexible header's empty tagged fields (except ApiVersions, whose
// response header is always v0), then the body.
func appendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != 18 {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
