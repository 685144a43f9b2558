package derperflags

import (
	"strings"
	"testing"
)

func TestParseUnit(t *testing.T) {
	tests := []struct {
		name, unit string
		want       []string
		wantErr    string
	}{
		{name: "continuations-and-quotes", unit: `[Unit]
Description=derper
[Service]
ExecStart=/usr/local/bin/derper -hostname derp.example.com \
    -a :33445 -certmode manual \
    -certdir "/etc/derp certs" -verify-clients
[Install]
ExecStart=/not/in/service
`, want: []string{"-hostname", "derp.example.com", "-a", ":33445", "-certmode", "manual", "-certdir", "/etc/derp certs", "-verify-clients"}},
		{name: "environment-expanded-and-reset", unit: `[Service]
Environment=HOST=derp.example.com "PORT=:8443"
ExecStart=/bin/false
ExecStart=
ExecStart=-/usr/bin/derper -hostname ${HOST} -a $PORT
`, want: []string{"-hostname", "derp.example.com", "-a", ":8443"}},
		{name: "unset-variable", unit: "[Service]\nExecStart=/usr/bin/derper -hostname $DERP_HOST\n", wantErr: "$DERP_HOST is not set"},
		{name: "not-derper", unit: "[Service]\nExecStart=/usr/bin/nginx -g x\n", wantErr: `runs "/usr/bin/nginx", not derper`},
		{name: "no-execstart", unit: "[Service]\nUser=derp\n", wantErr: "no ExecStart="},
		{name: "bad-quote", unit: "[Service]\nExecStart=/usr/bin/derper -home \"x\n", wantErr: "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUnit([]byte(tt.unit))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(u.Args, "|") != strings.Join(tt.want, "|") {
				t.Errorf("args %q, want %q", u.Args, tt.want)
			}
		})
	}
}
