package derperflags

import (
	"strings"
	"testing"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		args string
		want map[string]string // setting → values joined by ","; "-" means absent
		// differ are substrings that must appear among the differences.
		differ []string
	}{
		{name: "blog-style-manual-custom-port",
			args: "-hostname derp.example.com -a :33445 -http-port -1 -certmode manual -certdir /etc/derp -verify-clients -c /var/lib/derper/derper.key",
			want: map[string]string{"addr": ":33445", "certmode": "manual", "certdir": "/etc/derp", "hostname": "derp.example.com",
				"http-port": "-1", "verify-clients": "true", "key-file": "/var/lib/derper/derper.key"},
			differ: []string{"used as is", "checks at start that tailscaled answers"}},
		{name: "plain-http-on-a-custom-port",
			args:   "--hostname=derp.example.com --a=:8080 -stun-port 3479 -http-port 8081",
			want:   map[string]string{"addr": ":8080", "certmode": "none", "hostname": "derp.example.com", "stun-port": "3479", "http-port": "-"},
			differ: []string{"plain HTTP on port 8080", "-http-port does nothing without TLS"}},
		{name: "letsencrypt-on-443",
			args:   "-hostname derp.example.com -acme-email ops@example.com",
			want:   map[string]string{"addr": "-", "certmode": "letsencrypt", "hostname": "derp.example.com", "acme-email": "ops@example.com", "key-file": DefaultRootKeyFile},
			differ: []string{"no -c: derper used " + DefaultRootKeyFile, "~/.cache/tailscale/derper-certs"}},
		{name: "gcp",
			args:   "-hostname derp.example.com -certmode gcp -acme-eab-kid kid1 -acme-eab-key c2VjcmV0 -acme-email ops@example.com -certdir /c",
			want:   map[string]string{"certmode": "letsencrypt", "acme-directory-url": GTSDirectoryURL, "acme-eab-kid": "kid1", "acme-eab-key": "c2VjcmV0"},
			differ: []string{"Google Trust Services"}},
		{name: "eab-without-gcp-is-ignored-as-derper-does",
			args:   "-hostname derp.example.com -acme-eab-kid kid1 -acme-eab-key c2VjcmV0 -certdir /c",
			want:   map[string]string{"acme-eab-kid": "-", "acme-eab-key": "-", "acme-directory-url": "-"},
			differ: []string{"only with -certmode gcp"}},
		{name: "mesh-and-lists",
			args: "-hostname d1.example.com -mesh-with d1.example.com,d2.example.com/10.0.0.2 -mesh-psk-file /etc/derp/mesh.key -bootstrap-dns-names a.example.com,b.example.com -unpublished-bootstrap-dns-names c.example.com/rollout.example.com -certdir /c",
			want: map[string]string{"mesh-with": "d1.example.com,d2.example.com/10.0.0.2", "mesh-psk-file": "/etc/derp/mesh.key",
				"bootstrap-dns-names": "a.example.com,b.example.com", "unpublished-bootstrap-dns-names": "c.example.com/rollout.example.com"},
			differ: []string{"mode 0600"}},
		{name: "mesh-without-key-file",
			args:   "-a :8080 -mesh-with d2.example.com",
			want:   map[string]string{"mesh-psk-file": "-"},
			differ: []string{"relayctl needs mesh-psk-file (or TAILSCALE_DERPER_MESH_KEY)"}},
		{name: "dev",
			args:   "-dev -a :9999 -c /tmp/k",
			want:   map[string]string{"dev": "true", "addr": "-", "key-file": "-", "certmode": "-"},
			differ: []string{"127.0.0.1:3340", "-a :9999 is ignored", "-c is ignored", "TAILSCALE_DERPER_MESH_KEY only"}},
		{name: "decommissioning-and-limits",
			args: "-a :8080 -derp=false -stun=false -accept-connection-limit 50 -accept-connection-burst 100 -rate-config /etc/derp/rate.json -tcp-write-timeout 0 -home blank",
			want: map[string]string{"derp": "false", "stun": "false", "accept-connection-limit": "50", "accept-connection-burst": "100",
				"rate-config": "/etc/derp/rate.json", "tcp-write-timeout": "0", "home": "blank"}},
		{name: "webhook",
			args:   "-a :8080 -verify-client-url http://127.0.0.1:9/admit -verify-client-url-fail-open=false",
			want:   map[string]string{"verify-client-url": "http://127.0.0.1:9/admit", "verify-client-url-fail-open": "false"},
			differ: []string{"circuit breaker"}},
		{name: "not-carried",
			args:   "-a :8080 -ace -secrets-url https://setec.example.com -secrets-path-prefix prod/x",
			want:   map[string]string{"secrets-url": "-"},
			differ: []string{"-ace", "-secrets-url", "-secrets-path-prefix is not carried"}},
		{name: "last-value-wins-as-in-go-flag",
			args: "-a :8080 -stun-port 1 -stun-port 2",
			want: map[string]string{"stun-port": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Convert(strings.Fields(tt.args))
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				got, ok := c.Lookup(name)
				switch {
				case want == "-" && ok:
					t.Errorf("%s = %q, want it left out", name, got)
				case want != "-" && strings.Join(got, ",") != want:
					t.Errorf("%s = %q (set %v), want %q", name, got, ok, want)
				}
			}
			all := strings.Join(c.Differences, "\n")
			for _, d := range tt.differ {
				if !strings.Contains(all, d) {
					t.Errorf("differences lack %q:\n%s", d, all)
				}
			}
		})
	}
}

func TestConvertRejects(t *testing.T) {
	tests := []struct{ args, want string }{
		{"-hostname x -bogus", "flag provided but not defined: -bogus"},
		{"-http-port eighty", `invalid value "eighty" for flag -http-port`},
		{"-tcp-write-timeout 5", `invalid value "5" for flag -tcp-write-timeout`},
		{"-stun=maybe", `invalid boolean value "maybe" for -stun`},
		{"-a :8080 stray -hostname x", `argument "stray"`},
		{"-certmode gcp -hostname x", "-certmode gcp needs -acme-eab-kid and -acme-eab-key"},
		{"-certmode gcp -hostname x -acme-eab-kid k -acme-eab-key a2V5", "-certmode gcp needs -acme-email"},
		{"-certmode selfsigned", `-certmode "selfsigned"`},
		{"-a nocolon", `-a "nocolon"`},
		{"-version", "relayctl version"},
		{"-h", "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			_, err := Convert(strings.Fields(tt.args))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestTableNamesEverySettingOnce guards the table's own consistency:
// unique derper names, and no relayctl setting claimed by two flags.
func TestTableNamesEverySettingOnce(t *testing.T) {
	names, settings := map[string]bool{}, map[string]string{}
	for _, f := range Flags {
		if names[f.Name] {
			t.Errorf("derper flag -%s listed twice", f.Name)
		}
		names[f.Name] = true
		if f.Setting == "" {
			continue
		}
		if other, ok := settings[f.Setting]; ok {
			t.Errorf("--%s claimed by -%s and -%s", f.Setting, other, f.Name)
		}
		settings[f.Setting] = f.Name
	}
}

func TestConfigYAMLQuoting(t *testing.T) {
	c := &Conversion{Settings: []Setting{
		{Name: "addr", Values: []string{":8080"}},
		{Name: "http-port", Values: []string{"-1"}},
		{Name: "home", Values: []string{`a "quoted" #url`}},
		{Name: "mesh-with", Values: []string{"a", "b/10.0.0.2"}, List: true},
		{Name: "stun", Values: []string{"false"}},
	}}
	got := c.ConfigYAML("")
	for _, want := range []string{`addr: ":8080"`, "http-port: -1", `home: "a \"quoted\" #url"`, `mesh-with: ["a", "b/10.0.0.2"]`, "stun: false"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("YAML lacks line %q:\n%s", want, got)
		}
	}
	if q := ShellQuote([]string{"--home=a b", "--addr=:80", "it's"}); q != `'--home=a b' --addr=:80 'it'\''s'` {
		t.Errorf("ShellQuote = %s", q)
	}
}
