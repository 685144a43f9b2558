// Package mesh joins the nodes of a region: each node watches every other
// node's connections over a mesh-key DERP connection, and forwards packets
// for clients held elsewhere one hop through it. It speaks derper's mesh
// protocol, so relayctl and derper nodes can share a region.
package mesh

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Peer is another node of the region.
type Peer struct {
	// Name identifies the peer in logs and metrics: the --mesh-with entry.
	Name string
	// URL is the peer's DERP endpoint, https://host[:port]/derp or http://….
	URL string
	// DialAddr, when set, is dialled instead of the URL's host (a private
	// address for a public name); it may omit the port.
	DialAddr string
}

// ParsePeer reads one --mesh-with entry: "host", "host:port",
// "host/dialaddr" (derper's form), or an http(s) URL.
func ParsePeer(entry string) (Peer, error) {
	entry = strings.TrimSpace(entry)
	if entry == "" {
		return Peer{}, fmt.Errorf("empty mesh peer")
	}
	if strings.HasPrefix(entry, "https://") || strings.HasPrefix(entry, "http://") {
		u, err := url.Parse(entry)
		if err != nil || u.Host == "" {
			return Peer{}, fmt.Errorf("mesh peer %q: not a URL with a host", entry)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/derp"
		}
		return Peer{Name: entry, URL: u.String()}, nil
	}
	host, dial, _ := strings.Cut(entry, "/")
	if host == "" || strings.ContainsAny(host, " ?#@") || (dial == "" && strings.HasSuffix(entry, "/")) {
		return Peer{}, fmt.Errorf("mesh peer %q: want host, host:port, host/dialaddr or a URL", entry)
	}
	if _, _, err := net.SplitHostPort(host); err != nil && strings.Count(host, ":") > 0 && !strings.HasPrefix(host, "[") {
		return Peer{}, fmt.Errorf("mesh peer %q: put IPv6 addresses in brackets", entry)
	}
	return Peer{Name: entry, URL: "https://" + host + "/derp", DialAddr: dial}, nil
}

// ParsePeers reads every --mesh-with entry, leaving out the node's own
// (self is its --hostname, and selfAddrs its own host:port spellings).
// Entries that name this node in some other way are found when connecting:
// the peer presents our own key.
func ParsePeers(entries []string, self string, selfAddrs ...string) ([]Peer, error) {
	var peers []Peer
	seen := map[string]bool{}
	for _, e := range entries {
		p, err := ParsePeer(e)
		if err != nil {
			return nil, err
		}
		u, _ := url.Parse(p.URL)
		if u.Hostname() == self && (u.Port() == "" || contains(selfAddrs, u.Host)) {
			continue
		}
		if contains(selfAddrs, u.Host) || seen[p.URL+"|"+p.DialAddr] {
			continue
		}
		seen[p.URL+"|"+p.DialAddr] = true
		peers = append(peers, p)
	}
	return peers, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
