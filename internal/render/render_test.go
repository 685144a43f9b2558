package render

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/syncbuf"
)

var sample = Table{
	Title:   "Region 900 (home)",
	Headers: []string{"Node", "Check", "Status", "Detail"},
	Rows: [][]Cell{
		{{Text: "900a"}, {Text: "stun4"}, {Text: "ok", Tone: Good}, {Text: "sees us as 127.0.0.1:5000", Tone: Faint}},
		{{Text: "900a → 900b"}, {Text: "mesh"}, {Text: "FAIL", Tone: Bad}, {Text: "no packet arrived", Tone: Bad}},
		{{Text: "900b"}, {Text: "tls"}, {Text: "skip"}},
	},
}

func TestRenderPlainForPipes(t *testing.T) {
	want := "Region 900 (home)\n" +
		"NODE         CHECK  STATUS  DETAIL\n" +
		"900a         stun4  ok      sees us as 127.0.0.1:5000\n" +
		"900a → 900b  mesh   FAIL    no packet arrived\n" +
		"900b         tls    skip\n"
	if got := (Mode{}).Render(sample); got != want {
		t.Errorf("plain table:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderStyled(t *testing.T) {
	tests := []struct {
		name      string
		mode      Mode
		wantColor bool
	}{
		{"terminal_color", Mode{Styled: true, Color: true}, true},
		{"terminal_no_color", Mode{Styled: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.mode.Render(sample)
			for _, want := range []string{"╭", "╰", "no packet arrived", "Region 900 (home)"} {
				if !strings.Contains(got, want) {
					t.Errorf("styled table lacks %q:\n%s", want, got)
				}
			}
			if hasANSI := strings.Contains(got, "\x1b["); hasANSI != tc.wantColor {
				t.Errorf("ANSI escapes present = %v, want %v:\n%q", hasANSI, tc.wantColor, got)
			}
		})
	}
}

func TestModeFor(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tests := []struct {
		name     string
		terminal bool
		env      map[string]string
		want     Mode
	}{
		{"pipe", false, nil, Mode{}},
		{"pipe_ignores_env", false, map[string]string{"NO_COLOR": ""}, Mode{}},
		{"terminal", true, nil, Mode{Styled: true, Color: true}},
		{"terminal_no_color", true, map[string]string{"NO_COLOR": "1"}, Mode{Styled: true}},
		{"terminal_empty_no_color", true, map[string]string{"NO_COLOR": ""}, Mode{Styled: true, Color: true}},
		{"dumb_terminal", true, map[string]string{"TERM": "dumb"}, Mode{Styled: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := modeFor(tc.terminal, env(tc.env)); got != tc.want {
				t.Errorf("modeFor = %+v, want %+v", got, tc.want)
			}
		})
	}
	if m := ModeFor(&bytes.Buffer{}); m != (Mode{}) {
		t.Errorf("ModeFor(buffer) = %+v, want plain", m)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w) {
		t.Errorf("a pipe is a terminal")
	}
}

func TestProgressDrawsOnlyWhenEnabled(t *testing.T) {
	var off bytes.Buffer
	p := StartProgress(&off, false, "probing")
	p.Set("probing %d/%d", 1, 2)
	p.Stop()
	if off.Len() != 0 {
		t.Errorf("disabled progress wrote %q", off.String())
	}

	var on syncbuf.Buffer
	p = StartProgress(&on, true, "probing 0/2")
	p.Set("probing %d/%d", 1, 2)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(on.String(), "probing 1/2") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.Stop()
	got := on.String()
	if !strings.Contains(got, "probing 1/2") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("progress output %q: want the message, then the line cleared", got)
	}
}
