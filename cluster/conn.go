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
	var out []byte
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
		if resp == nil {
			continue // acks=0: no response
		}
		if resp.Key() != 18 || err == nil {
			resp.SetVersion(h.version)
		}
		out = appendResponse(out[:0], h.correlationID, resp)
		c.SetWriteDeadline(time.Now().Add(connWriteTimeout))
		if _, err := c.Write(out); err != nil {
			b.logConnEnd(cc, err)
			return
		}
		if cap(out) > 1<<20 {
			out = nil // do not pin a large fetch's buffer to an idle connection
		}
	}
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
