package cluster

import (
	"bufio"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// connIdleTimeout closes a connection that sends nothing for this long
	// (Kafka's connections.max.idle.ms).
	connIdleTimeout = 10 * time.Minute
	// connWriteTimeout bounds how long a response may take to be accepted
	// by a client that does not read.
	connWriteTimeout = 2 * time.Minute
)

// clientConn is what a handler knows of the connection its request came on.
type clientConn struct {
	remote   string
	clientID string
}

// serveConn reads, handles and answers requests one at a time until the
// client leaves, sends something that is not the protocol, or the broker
// closes. A malformed frame closes this connection only.
func (b *Broker) serveConn(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	cc := &clientConn{remote: c.RemoteAddr().String()}
	// A bug in one handler closes that connection, not the broker (as
	// net/http does); it is logged with its stack to be fixed.
	defer func() {
		if v := recover(); v != nil {
			b.logger.Error("cluster: handler panicked; closing the connection", "remote", cc.remote,
				"client", cc.clientID, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	_, tcp := c.(*net.TCPConn)
	for {
		c.SetReadDeadline(time.Now().Add(connIdleTimeout))
		frame, err := readFrame(r, b.cfg.SocketRequestMaxBytes, nil)
		if err != nil {
			b.logConnEnd(cc, err)
			return
		}
		h, req, err := parseRequest(frame)
		cc.clientID = h.clientID
		var resp kmsg.Response
		switch {
		case errors.Is(err, errUnsupportedVersion) && h.key == 18:
			resp = unsupportedApiVersions()
		case err != nil:
			b.logger.Warn("cluster: closing connection: bad request", "remote", cc.remote, "client", h.clientID, "err", err)
			return
		default:
			if resp, err = apis[h.key].handle(b, cc, h, req); err != nil {
				b.logger.Warn("cluster: closing connection", "remote", cc.remote, "client", h.clientID,
					"api", kmsg.NameForKey(h.key), "err", err)
				return
			}
		}
		if resp != nil { // nil for acks=0: no response
			if resp.Key() != 18 || err == nil {
				resp.SetVersion(h.version)
			}
			c.SetWriteDeadline(time.Now().Add(connWriteTimeout))
			if err := writeResponse(c, tcp, h.correlationID, resp); err != nil {
				b.logConnEnd(cc, err)
				return
			}
		}
		if frameReusable(h.key) {
			putBuf(frame)
		}
	}
}

// writeResponse encodes resp into a pooled buffer and writes its frame;
// a frameWriter writes its own, and is released whether or not it could.
func writeResponse(c net.Conn, tcp bool, corr int32, resp kmsg.Response) error {
	out := getBuf(0)
	defer func() { putBuf(out) }()
	if fw, ok := resp.(frameWriter); ok {
		defer fw.release()
		var err error
		out, err = fw.writeFrame(c, tcp, corr, out)
		return err
	}
	out = appendResponse(out, corr, resp)
	_, err := c.Write(out)
	return err
}

// A frameWriter is a response that writes its own frame: Fetch, whose
// records go from the log to the socket (sendfile) rather than through
// the encoder. writeFrame may use buf (a pooled buffer; it returns it,
// grown or not) and sends a whole frame or fails; tcp says that c is a
// *net.TCPConn. release closes what the response holds; it is called
// once, after writeFrame or instead of it.
type frameWriter interface {
	kmsg.Response
	writeFrame(c io.Writer, tcp bool, corr int32, buf []byte) ([]byte, error)
	release()
}

// frameReusable reports whether the request frame of an API may go back
// to the pool once answered. kmsg decodes byte fields as sub-slices of the
// frame (strings are copied), so a handler that keeps bytes of its request
// (JoinGroup's protocol metadata and SyncGroup's assignments stay in the
// group) must own its frame: every API not listed here leaves the frame to
// the garbage collector. These are the frequent ones, whose handlers keep
// no request bytes (Produce's batch is written to the log before it
// answers).
func frameReusable(key int16) bool {
	switch key {
	case 0, 1, 2, 3, 8, 9, 10, 12, 18: // Produce, Fetch, ListOffsets, Metadata, OffsetCommit, OffsetFetch, FindCoordinator, Heartbeat, ApiVersions
		return true
	}
	return false
}

func (b *Broker) logConnEnd(cc *clientConn, err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), b.ctx.Err() != nil:
		b.logger.Debug("cluster: connection closed", "remote", cc.remote, "client", cc.clientID)
	default:
		b.logger.Warn("cluster: closing connection", "remote", cc.remote, "client", cc.clientID, "err", err)
	}
}

// unsupportedApiVersions is Kafka's answer to an ApiVersions request at a
// version it does not know (KIP-511): a v0 response with
// UNSUPPORTED_VERSION and the ApiVersions range, so the client retries.
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	k := kmsg.NewApiVersionsResponseApiKey()
	k.ApiKey, k.MinVersion, k.MaxVersion = 18, apis[18].min, apis[18].max
	resp.ApiKeys = append(resp.ApiKeys, k)
	return resp
}

// apiHandler answers one request. A nil response sends nothing (acks=0);
// an error closes the connection.
type apiHandler func(b *Broker, cc *clientConn, h requestHeader, req kmsg.Request) (kmsg.Response, error)

type apiSpec struct {
	min, max int16
	handle   apiHandler
}

// apis is every API the broker serves, registered by the files named after
// them (00_produce.go, 01_fetch.go, ...). ApiVersions lists exactly these.
var apis = map[int16]apiSpec{}

func register(key, min, max int16, h apiHandler) {
	if _, dup := apis[key]; dup {
		panic("cluster: api registered twice: " + kmsg.NameForKey(key))
	}
	apis[key] = apiSpec{min: min, max: max, handle: h}
}
