package relaytest

import (
	"context"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
)

// clientTimeout bounds Dial and WaitClosed.
const clientTimeout = 5 * time.Second

// Client is a test's client of a relay: its receive loop drains what
// arrives and notices when the relay ends the connection.
type Client struct {
	*client.Client
	closed chan struct{}
}

// Dial connects a client with a new key to the relay at url (the /derp
// URL) with opts; the client is closed when the test ends.
func Dial(t testing.TB, url string, opts client.Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, key.NewNode(), opts)
	if err != nil {
		t.Fatal(err)
	}
	tc := &Client{Client: c, closed: make(chan struct{})}
	go func() {
		defer close(tc.closed)
		for {
			if _, err := c.Recv(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-tc.closed
	})
	return tc
}

// Closed is closed once the connection has ended.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Connected reports whether the connection is still up.
func (c *Client) Connected() bool {
	select {
	case <-c.closed:
		return false
	default:
		return true
	}
}

// WaitClosed fails t unless the connection ends within 5 s.
func (c *Client) WaitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(clientTimeout):
		t.Fatalf("%s is still connected", c.PublicKey().ShortString())
	}
}
