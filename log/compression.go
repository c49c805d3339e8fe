package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression is a RecordBatch compression codec: the low three bits of
// the batch attributes.
type Compression int8

// The codecs Kafka defines, numbered as on the wire.
const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", int8(c))
}

// errDecompressedTooLarge is wrapped when a batch decompresses to more
// than the caller's limit: a decompression bomb, or a batch we refuse.
var errDecompressedTooLarge = errors.New("decompressed size exceeds limit")

// decompress returns the decompressed form of src, a batch's records
// section compressed with c, refusing (with an error wrapping
// ErrInvalidRecords) output over limit bytes and trailing garbage after the
// compressed stream. For CompressionNone it returns src itself. The zstd
// decoder is also bounded by recordsBytesMax whatever limit is. Safe for
// concurrent use.
func decompress(c Compression, src []byte, limit int) ([]byte, error) {
	out, err := decompressCodec(c, src, limit)
	if err != nil {
		return nil, fmt.Errorf("log: decompress %s: %w: %w", c, ErrInvalidRecords, err)
	}
	return out, nil
}

func decompressCodec(c Compression, src []byte, limit int) ([]byte, error) {
	if c != CompressionNone && len(src) == 0 {
		return nil, errors.New("no compressed data") // lz4 and zstd would read an empty stream
	}
	switch c {
	case CompressionNone:
		if len(src) > limit {
			return nil, fmt.Errorf("%w: %d bytes", errDecompressedTooLarge, len(src))
		}
		return src, nil
	case CompressionGzip:
		return gunzip(src, limit)
	case CompressionSnappy:
		return unsnappy(src, limit)
	case CompressionLZ4:
		return unlz4(src, limit)
	case CompressionZstd:
		return unzstd(src, limit)
	}
	return nil, errors.New("unknown codec")
}

// compress appends the compressed form of src to dst: gzip and lz4 as one
// frame, snappy as one raw block (as franz-go and librdkafka write it),
// zstd as one frame. Safe for concurrent use.
func compress(c Compression, dst, src []byte) ([]byte, error) {
	var err error
	switch c {
	case CompressionNone:
		return append(dst, src...), nil
	case CompressionGzip:
		dst, err = gzipAppend(dst, src)
	case CompressionSnappy:
		dst, err = snappyAppend(dst, src)
	case CompressionLZ4:
		dst, err = lz4Append(dst, src)
	case CompressionZstd:
		dst, err = zstdAppend(dst, src)
	default:
		err = errors.New("unknown codec")
	}
	if err != nil {
		return nil, fmt.Errorf("log: compress %s: %w", c, err)
	}
	return dst, nil
}

// appendWriter is an io.Writer appending to a byte slice, so that the
// streaming codecs can write straight after dst's existing bytes.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// readLimited reads r to its end into a new slice, failing when it yields
// more than limit bytes. sizeHint sizes the first allocation.
func readLimited(r io.Reader, limit, sizeHint int) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, min(limit, sizeHint)+bytes.MinRead))
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("%w: over %d bytes", errDecompressedTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// The streaming codecs are pooled with the bytes.Reader they read from.
type gzipReader struct {
	src   bytes.Reader
	inner gzip.Reader
}

var (
	gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
)

func gunzip(src []byte, limit int) ([]byte, error) {
	r := gzipReaders.Get().(*gzipReader)
	defer gzipReaders.Put(r)
	defer r.src.Reset(nil) // drop the reference to src before pooling
	r.src.Reset(src)
	if err := r.inner.Reset(&r.src); err != nil {
		return nil, err
	}
	// Multistream (the default) also makes trailing garbage an error: the
	// reader takes it for the header of a next member.
	return readLimited(&r.inner, limit, 4*len(src))
}

func gzipAppend(dst, src []byte) ([]byte, error) {
	w := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(w)
	out := &appendWriter{b: dst}
	w.Reset(out)
	_, err := w.Write(src)
	if err == nil {
		err = w.Close()
	}
	w.Reset(nil) // drop the reference to dst before pooling
	return out.b, err
}

// xerialMagic starts a snappy payload framed as the Java client's
// SnappyOutputStream (xerial snappy-java) writes it: the magic, a 4-byte
// version and a 4-byte minimum compatible version, then chunks of a
// big-endian 4-byte length and a raw snappy block.
var xerialMagic = []byte("\x82SNAPPY\x00")

const xerialHeaderSize = 16

func unsnappy(src []byte, limit int) ([]byte, error) {
	if len(src) >= xerialHeaderSize && bytes.HasPrefix(src, xerialMagic) {
		return unxerial(src[xerialHeaderSize:], limit)
	}
	return snappyBlock(nil, src, limit)
}

// snappyBlock appends the decoding of one raw snappy block to dst, checking
// the block's claimed length against what is left of limit first. It
// decodes standard snappy only, not the s2 extensions the Java client
// cannot read.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit-len(dst) {
		return nil, fmt.Errorf("%w: over %d bytes", errDecompressedTooLarge, limit)
	}
	dst = slices.Grow(dst, n)
	out, err := snappy.DecodeStrict(dst[len(dst):len(dst)+n], block) // decodes in place, given the room
	if err != nil {
		return nil, err
	}
	return dst[:len(dst)+len(out)], nil
}

// unxerial decodes the chunks after the xerial header.
func unxerial(chunks []byte, limit int) ([]byte, error) {
	// Sum the claimed sizes first, so that the output is allocated once
	// and a bomb is refused before any decoding.
	total := 0
	for rest := chunks; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, errors.New("xerial: truncated chunk length")
		}
		size := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(size) > uint64(len(rest)) {
			return nil, fmt.Errorf("xerial: chunk of %d bytes, %d left", size, len(rest))
		}
		n, err := snappy.DecodedLen(rest[:size])
		if err != nil {
			return nil, err
		}
		if total += n; total > limit {
			return nil, fmt.Errorf("%w: over %d bytes", errDecompressedTooLarge, limit)
		}
		rest = rest[size:]
	}
	out := make([]byte, 0, total)
	for len(chunks) > 0 {
		size := binary.BigEndian.Uint32(chunks)
		var err error
		if out, err = snappyBlock(out, chunks[4:4+size], limit); err != nil {
			return nil, err
		}
		chunks = chunks[4+size:]
	}
	return out, nil
}

func snappyAppend(dst, src []byte) ([]byte, error) {
	n := s2.MaxEncodedLen(len(src))
	if n < 0 {
		return nil, fmt.Errorf("%d bytes is too large for a snappy block", len(src))
	}
	dst = slices.Grow(dst, n)
	block := s2.EncodeSnappy(dst[len(dst):len(dst)+n], src) // encodes in place, given the room
	return dst[:len(dst)+len(block)], nil
}

type lz4Reader struct {
	src   bytes.Reader
	inner *lz4.Reader
}

var (
	lz4Readers = sync.Pool{New: func() any { return &lz4Reader{inner: lz4.NewReader(nil)} }}
	lz4Writers = sync.Pool{New: func() any {
		// 64 KiB blocks, as the Java producer writes: a consumer
		// allocates a block per batch it decompresses.
		w := lz4.NewWriter(nil)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			panic(err) // a constant option: cannot fail
		}
		return w
	}}
)

func unlz4(src []byte, limit int) ([]byte, error) {
	r := lz4Readers.Get().(*lz4Reader)
	defer lz4Readers.Put(r)
	r.src.Reset(src)
	r.inner.Reset(&r.src)
	// The reader reads concatenated frames, so trailing garbage is a bad
	// frame header.
	out, err := readLimited(r.inner, limit, 4*len(src))
	r.inner.Reset(nil) // release the block buffers to lz4's own pool
	r.src.Reset(nil)
	return out, err
}

func lz4Append(dst, src []byte) ([]byte, error) {
	w := lz4Writers.Get().(*lz4.Writer)
	defer lz4Writers.Put(w)
	out := &appendWriter{b: dst}
	w.Reset(out)
	_, err := w.Write(src)
	if err == nil {
		err = w.Close()
	}
	w.Reset(nil)
	return out.b, err
}

// The zstd decoder and encoder are shared: DecodeAll and EncodeAll are safe
// for concurrent use and bound their own concurrency. They are built on
// first use.
var (
	zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
		return zstd.NewReader(nil,
			zstd.WithDecoderMaxMemory(recordsBytesMax),
			zstd.WithDecoderMaxWindow(recordsBytesMax),
		)
	})
	zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		// A 64 KiB window, as franz-go: batches are small, and a small
		// window keeps every encoder's state small.
		return zstd.NewWriter(nil, zstd.WithWindowSize(64<<10), zstd.WithZeroFrames(true))
	})
)

func unzstd(src []byte, limit int) ([]byte, error) {
	d, err := zstdDecoder()
	if err != nil {
		return nil, err
	}
	// The decoder refuses anything over recordsBytesMax on its own; a
	// smaller limit is checked against the first frame's declared size
	// before decoding and against the output after.
	var h zstd.Header
	if h.Decode(src) == nil && h.HasFCS && h.FrameContentSize > uint64(limit) {
		return nil, fmt.Errorf("%w: frame declares %d bytes", errDecompressedTooLarge, h.FrameContentSize)
	}
	out, err := d.DecodeAll(src, nil)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || err == nil && len(out) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", errDecompressedTooLarge, limit)
	}
	return out, err
}

func zstdAppend(dst, src []byte) ([]byte, error) {
	e, err := zstdEncoder()
	if err != nil {
		return nil, err
	}
	return e.EncodeAll(src, dst), nil
}
