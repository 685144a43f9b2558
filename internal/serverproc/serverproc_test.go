package serverproc

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the server program: SERVERPROC_CHILD picks
// what it does.
func TestMain(m *testing.M) {
	switch os.Getenv("SERVERPROC_CHILD") {
	case "":
		os.Exit(m.Run())
	case "serve":
		http.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {})
		err := http.ListenAndServe(os.Getenv("SERVERPROC_ADDR"), nil)
		panic(err)
	case "exit3":
		os.Exit(3)
	case "hang":
		select {}
	}
}

func child(t *testing.T, mode string, env ...string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append(env, "SERVERPROC_CHILD="+mode)...)
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

func TestWaitReady(t *testing.T) {
	port, err := FreeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	client := &http.Client{Timeout: time.Second}
	tests := []struct {
		name    string
		mode    string
		timeout time.Duration
		wantErr string // "" for ready
	}{
		{"serves", "serve", 10 * time.Second, ""},
		{"exits", "exit3", 10 * time.Second, "exited before becoming ready"},
		{"never_listens", "hang", 200 * time.Millisecond, "not ready within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := child(t, tt.mode, "SERVERPROC_ADDR="+addr)
			err := WaitReady(t.Context(), p.Exited(), tt.timeout, HTTPOK(client, "http://"+addr+"/ready", ""))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("not ready: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestExitStatusAndKill(t *testing.T) {
	exits := child(t, "exit3")
	<-exits.Exited()
	if exits.Alive() || exits.Err() == nil || !strings.Contains(exits.Err().Error(), "exit status 3") {
		t.Fatalf("alive %v, status %v; want exited with status 3", exits.Alive(), exits.Err())
	}
	hangs := child(t, "hang")
	if !hangs.Alive() || hangs.Err() != nil {
		t.Fatalf("a running process: alive %v, status %v", hangs.Alive(), hangs.Err())
	}
	hangs.Kill()
	if hangs.Alive() || hangs.Err() == nil {
		t.Fatalf("after Kill: alive %v, status %v", hangs.Alive(), hangs.Err())
	}
}

// TestFreePortsNeverRepeat: servers started one after the other must not
// be handed a port an earlier one got, even if the kernel offers it again.
func TestFreePortsNeverRepeat(t *testing.T) {
	for _, pick := range []struct {
		name string
		f    func() (int, error)
		sign int
	}{{"tcp", FreeTCPPort, 1}, {"udp", FreeUDPPort, -1}} {
		t.Run(pick.name, func(t *testing.T) {
			seen := map[int]bool{}
			for range 50 {
				p, err := pick.f()
				if err != nil {
					t.Fatal(err)
				}
				if p <= 0 || seen[p] {
					t.Fatalf("port %d handed out twice (or invalid)", p)
				}
				seen[p] = true
			}
		})
	}
}
