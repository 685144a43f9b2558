package client

import (
	"context"
	"fmt"
	"net"
	"time"
)

func (c *Client) errorf(format string, args ...any) error {
	return fmt.Errorf("derp %s: "+format, append([]any{c.label}, args...)...)
}

// aLongTimeAgo is a deadline in the past: setting it wakes every blocked
// read and write on a connection.
var aLongTimeAgo = time.Unix(1, 0)

// withConnContext runs f, which does blocking I/O on conn, so that ending
// ctx ends f: a net.Conn cannot take a context, but a past deadline aborts
// its reads and writes. The deadline is cleared again when f finishes in
// time; when ctx wins, the result names the context's error.
func withConnContext(ctx context.Context, conn net.Conn, f func() error) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	err := f()
	if !stop() {
		// The deadline is set (or about to be) and stays set; the
		// connection is no longer usable even if f succeeded.
		if err != nil {
			return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
		}
		return context.Cause(ctx)
	}
	if err == nil {
		// A failure here means the peer already closed; the next read or
		// write reports that better.
		conn.SetDeadline(time.Time{})
	}
	return err
}
