package relaytest

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/stunwire"
	"github.com/relayctl/relayctl/internal/testcert"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
)

func TestPlainRelayWithSTUN(t *testing.T) {
	r := Start(t, Options{STUN: true})
	c, err := client.Dial(t.Context(), r.URL, key.NewNode(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ServerPublicKey().IsZero() || r.Port == 0 {
		t.Fatalf("server key %v, port %d", c.ServerPublicKey(), r.Port)
	}
	uc, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.STUNPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	tx := [12]byte{1, 2, 3}
	if _, err := uc.Write(stunwire.TailscaleRequest(tx)); err != nil {
		t.Fatal(err)
	}
	uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := uc.Read(buf)
	if err != nil {
		t.Fatalf("no STUN answer: %v", err)
	}
	if got, addr, err := stunwire.ParseResponse(buf[:n]); err != nil || got != tx || addr.Port() != uint16(uc.LocalAddr().(*net.UDPAddr).Port) {
		t.Fatalf("STUN answer %x %v %v", got, addr, err)
	}
}

func TestTLSRelay(t *testing.T) {
	cert := testcert.ValidNow(t, "localhost")
	r := Start(t, Options{Certificate: &cert, Hostname: "localhost"})
	if r.STUNPort != 0 {
		t.Errorf("STUN port %d without STUN", r.STUNPort)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get(r.URL + "/derp/probe")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || !resp.TLS.PeerCertificates[0].Equal(cert.Leaf) {
		t.Fatalf("status %d, TLS %v: want 200 with the given certificate", resp.StatusCode, resp.TLS != nil)
	}
}

// TestClientSeesTheRelayEndIt: a Client is connected until the relay
// closes its side, and then Closed and WaitClosed say so.
func TestClientSeesTheRelayEndIt(t *testing.T) {
	r := Start(t, Options{})
	c := Dial(t, r.URL+"/derp", client.Options{})
	if !c.Connected() {
		t.Fatal("not connected after Dial")
	}
	r.Server.Close()
	c.WaitClosed(t)
	if c.Connected() {
		t.Error("Connected after the relay closed")
	}
}
