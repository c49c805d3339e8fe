package main

import (
	"fmt"
	"io"
	"net"
	"time"
)

// loopbackChunk is the size of each write and read: large, so that the
// figure is the kernel's loopback path and not system-call overhead.
const loopbackChunk = 1 << 20

// loopbackTCP sends n bytes over one TCP connection on 127.0.0.1, a plain
// Go sender and receiver in this process, and returns the time from the
// first write to the receiver's last read.
func loopbackTCP(n int64) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type result struct {
		end time.Time
		err error
	}
	recv := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			recv <- result{err: err}
			return
		}
		defer c.Close()
		buf := make([]byte, loopbackChunk)
		var got int64
		for {
			k, rerr := c.Read(buf)
			got += int64(k)
			if rerr != nil {
				if rerr != io.EOF {
					err = rerr
				}
				break
			}
		}
		if err == nil && got != n {
			err = fmt.Errorf("received %d of %d bytes", got, n)
		}
		recv <- result{end: time.Now(), err: err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := randomValue(loopbackChunk)
	start := time.Now()
	for sent := int64(0); sent < n; {
		k := min(int64(len(buf)), n-sent)
		if _, err := c.Write(buf[:k]); err != nil {
			c.Close()
			return 0, err
		}
		sent += k
	}
	c.Close()
	r := <-recv
	if r.err != nil {
		return 0, r.err
	}
	return r.end.Sub(start), nil
}
