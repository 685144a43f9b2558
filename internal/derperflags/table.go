// Package derperflags is the answer relayctl gives to every flag of
// Tailscale's derper: which relayctl setting carries it, how its meaning
// changes, and what is not carried. One table feeds the migration command
// (`relayctl config from-derper`), the hint for a derper flag given to
// relayctl, and the side-by-side table of docs/migrating-from-derper.md,
// so the three cannot drift apart. The interop tests compare the table
// with the flags of a real derper binary.
package derperflags

//go:generate go run ./gendoc ../../docs/migrating-from-derper.md

import "strings"

// DerperVersion is the derper release whose flags the table describes.
const DerperVersion = "v1.102.5"

// valueType is how derper parses a flag's value.
type valueType int

const (
	typeString valueType = iota
	typeBool
	typeInt
	typeFloat
	typeDuration
	typeList // a comma-separated string in derper, a list setting in relayctl
)

// Flag is one derper flag and relayctl's answer to it.
type Flag struct {
	// Name is derper's flag name, without the dash.
	Name string
	// Default is derper's default, as derper -h shows it ("" for none).
	Default string
	// Setting is the relayctl serve setting that carries the flag; ""
	// when relayctl has none.
	Setting string
	// Answer is what the guide says about the flag when more than "the
	// same" needs saying (Markdown, one line).
	Answer string

	typ valueType
	// converted flags are translated by Convert's own rules rather than
	// copied to Setting as they are.
	converted bool
}

// IsBool reports whether the flag takes no value (-flag or -flag=false).
func (f Flag) IsBool() bool { return f.typ == typeBool }

// Carried reports whether a relayctl setting carries the flag.
func (f Flag) Carried() bool { return f.Setting != "" }

// GTSDirectoryURL is Google Trust Services' ACME directory: derper's
// -certmode gcp.
const GTSDirectoryURL = "https://dv.acme-v02.api.pki.goog/directory"

// ZeroSSLDirectoryURL is ZeroSSL's ACME directory, which also requires
// External Account Binding.
const ZeroSSLDirectoryURL = "https://acme.zerossl.com/v2/DV90"

// DefaultRootKeyFile is where derper keeps its node key when run as root
// without -c.
const DefaultRootKeyFile = "/var/lib/derper/derper.key"

// MeshKeyEnv is derper's environment variable for the mesh key.
const MeshKeyEnv = "TAILSCALE_DERPER_MESH_KEY"

// Flags is every flag of derper DerperVersion, by name.
var Flags = []Flag{
	{Name: "a", Default: ":443", Setting: "addr", typ: typeString, converted: true,
		Answer: "derper serves HTTPS only when the port is 443 or `-certmode manual`, plain HTTP otherwise; relayctl serves plain HTTP only with `--certmode none`, which the migration command adds"},
	{Name: "accept-connection-burst", Default: "9223372036854775807", Setting: "accept-connection-burst", typ: typeInt},
	{Name: "accept-connection-limit", Default: "+Inf", Setting: "accept-connection-limit", typ: typeFloat,
		Answer: "over the limit derper's listener returns an error that stops derper; relayctl closes the extra connection and keeps serving (counted in `tls_listener_rejected_connections`, derper's name)"},
	{Name: "ace", Default: "false", typ: typeBool, converted: true,
		Answer: "not carried: Tailscale's experimental in-house CONNECT proxy. Run a dedicated proxy if you need one"},
	{Name: "acme-eab-key", Setting: "acme-eab-key", typ: typeString, converted: true,
		Answer: "derper reads it only with `-certmode gcp`; relayctl uses it with any `--acme-directory-url` (ZeroSSL too). Base64 or base64url, as derper takes it"},
	{Name: "acme-eab-kid", Setting: "acme-eab-kid", typ: typeString, converted: true,
		Answer: "as `-acme-eab-key`"},
	{Name: "acme-email", Setting: "acme-email", typ: typeString},
	{Name: "acme-ip-certs", Default: "false", Setting: "acme-ip-certs", typ: typeBool},
	{Name: "bootstrap-dns-names", Setting: "bootstrap-dns-names", typ: typeList,
		Answer: "a list setting (derper: one comma-separated string)"},
	{Name: "c", Setting: "key-file", typ: typeString, converted: true,
		Answer: "the same file, used as is: the node keeps its key, so clients and DERP maps need no change. relayctl refuses a key file others can read (`chmod 600`). derper's default as root is `" + DefaultRootKeyFile + "`; relayctl's is `<state>/relay-key.json`"},
	{Name: "certdir", Default: "~/.cache/tailscale/derper-certs", Setting: "certdir", typ: typeString, converted: true,
		Answer: "relayctl's default is `<state>/certs`: name derper's directory to keep its certificates (manual) or ACME cache (letsencrypt)"},
	{Name: "certmode", Default: "letsencrypt", Setting: "certmode", typ: typeString, converted: true,
		Answer: "`manual` and `letsencrypt` are the same; `gcp` is `--certmode letsencrypt --acme-directory-url " + GTSDirectoryURL + "` with `--acme-eab-kid`/`--acme-eab-key`/`--acme-email`; relayctl adds `none` (plain HTTP)"},
	{Name: "derp", Default: "true", Setting: "derp", typ: typeBool,
		Answer: "`false`: STUN, `/bootstrap-dns` and the probe endpoints only, `/derp` answers 404; relayctl then does not mesh either (it has no clients to forward for)"},
	{Name: "dev", Default: "false", Setting: "dev", typ: typeBool, converted: true,
		Answer: "derper's `-dev` listens on `:3340` on every interface; relayctl's `--dev` on `127.0.0.1:3340` (add `--addr :3340` for derper's)"},
	{Name: "hostname", Default: "derp.tailscale.com", Setting: "hostname", typ: typeString, converted: true,
		Answer: "relayctl has no default: a TLS relay must name itself"},
	{Name: "home", Setting: "home", typ: typeString},
	{Name: "http-port", Default: "80", Setting: "http-port", typ: typeInt},
	{Name: "mesh-psk-file", Setting: "mesh-psk-file", typ: typeString, converted: true,
		Answer: "the same file format; relayctl has no default path (derper tries `/home/derp/keys/derp-mesh.key` and `~/keys/derp-mesh.key`) and refuses a key file others can read. `" + MeshKeyEnv + "` is read too; the file wins"},
	{Name: "mesh-with", Setting: "mesh-with", typ: typeList,
		Answer: "a list setting; the same `host` and `host/dialaddr` forms, this node's own entry skipped"},
	{Name: "rate-config", Setting: "rate-config", typ: typeString,
		Answer: "the same JSON file; re-read on change as well as on SIGHUP; its values show with source `rate-config` in `relayctl config show`"},
	{Name: "secrets-cache-dir", Default: "~/.cache/derper-secrets", typ: typeString, converted: true,
		Answer: "not carried (Tailscale's setec secrets service): see `-secrets-url`"},
	{Name: "secrets-path-prefix", Default: "prod/derp", typ: typeString, converted: true,
		Answer: "not carried: see `-secrets-url`"},
	{Name: "secrets-url", typ: typeString, converted: true,
		Answer: "not carried: deliver the mesh key as a file (`--mesh-psk-file` from a mounted secret or a systemd credential) or in `" + MeshKeyEnv + "`"},
	{Name: "socket", Setting: "socket", typ: typeString},
	{Name: "stun", Default: "true", Setting: "stun", typ: typeBool},
	{Name: "stun-port", Default: "3478", Setting: "stun-port", typ: typeInt},
	{Name: "tcp-keepalive-time", Default: "10m0s", Setting: "tcp-keepalive-time", typ: typeDuration},
	{Name: "tcp-user-timeout", Default: "15s", Setting: "tcp-user-timeout", typ: typeDuration},
	{Name: "tcp-write-timeout", Default: "2s", Setting: "tcp-write-timeout", typ: typeDuration},
	{Name: "unpublished-bootstrap-dns-names", Setting: "unpublished-bootstrap-dns-names", typ: typeList,
		Answer: "a list setting; `name/record` rollout percentages work as in derper"},
	{Name: "verify-client-url", Setting: "verify-client-url", typ: typeString,
		Answer: "the same webhook protocol"},
	{Name: "verify-client-url-fail-open", Default: "true", Setting: "verify-client-url-fail-open", typ: typeBool,
		Answer: "relayctl fails open only when the webhook is unreachable (connection refused, no route, DNS failure); a webhook that answers slowly or with an error rejects"},
	{Name: "verify-clients", Default: "false", Setting: "verify-clients", typ: typeBool},
	{Name: "version", Default: "false", typ: typeBool, converted: true,
		Answer: "`relayctl version` (`--json` for scripts)"},
}

// Lookup returns derper's flag name (with or without leading dashes).
func Lookup(name string) (Flag, bool) {
	name = strings.TrimLeft(name, "-")
	for _, f := range Flags {
		if f.Name == name {
			return f, true
		}
	}
	return Flag{}, false
}
