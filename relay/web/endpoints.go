package web

import (
	"io"
	"net/http"
)

// ServeProbe answers /derp/probe and /derp/latency-check, which clients and
// browsers time to measure latency to the node; the CORS header lets a web
// page do that cross-origin.
func ServeProbe(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		w.Header().Set("Access-Control-Allow-Origin", "*")
	default:
		http.Error(w, "bogus probe method", http.StatusMethodNotAllowed)
	}
}

// Captive-portal detection: the client sends a random challenge and expects
// it echoed, which a portal rewriting the response would not do.
const (
	challengeHeader    = "X-Tailscale-Challenge"
	challengeResponse  = "X-Tailscale-Response"
	maxChallengeLength = 64
)

// ServeNoContent answers /generate_204 on every listener (also port 80).
func ServeNoContent(w http.ResponseWriter, r *http.Request) {
	if c := r.Header.Get(challengeHeader); c != "" && validChallenge(c) {
		w.Header().Set(challengeResponse, "response "+c)
	}
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate, no-transform, max-age=0")
	w.WriteHeader(http.StatusNoContent)
}

// validChallenge keeps the echo to a short token of [A-Za-z0-9._:-], so the
// response header cannot carry anything a client did not expect.
func validChallenge(c string) bool {
	if len(c) > maxChallengeLength {
		return false
	}
	for _, b := range []byte(c) {
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '.', b == '-', b == '_', b == ':':
		default:
			return false
		}
	}
	return true
}

func serveRobots(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "User-agent: *\nDisallow: /\n")
}
