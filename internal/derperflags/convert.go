package derperflags

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Setting is one relayctl serve setting of a conversion.
type Setting struct {
	Name   string
	Values []string // one value, or the elements of a list setting
	List   bool
}

// Conversion is a derper command line in relayctl's terms.
type Conversion struct {
	// Settings are the relayctl settings, sorted by name.
	Settings []Setting
	// Differences are the behaviours that will differ from the derper
	// command line, one sentence each.
	Differences []string
}

// Lookup returns the setting name's values, if the conversion sets it.
func (c *Conversion) Lookup(name string) ([]string, bool) {
	i := slices.IndexFunc(c.Settings, func(s Setting) bool { return s.Name == name })
	if i < 0 {
		return nil, false
	}
	return c.Settings[i].Values, true
}

func (c *Conversion) set(name string, list bool, values ...string) {
	if i := slices.IndexFunc(c.Settings, func(s Setting) bool { return s.Name == name }); i >= 0 {
		c.Settings[i].Values = values
		return
	}
	c.Settings = append(c.Settings, Setting{Name: name, Values: values, List: list})
}

func (c *Conversion) unset(name string) {
	c.Settings = slices.DeleteFunc(c.Settings, func(s Setting) bool { return s.Name == name })
}

func (c *Conversion) differ(format string, args ...any) {
	c.Differences = append(c.Differences, fmt.Sprintf(format, args...))
}

// Convert translates derper's command-line arguments (without the program
// name) into relayctl settings. Flags are parsed exactly as derper parses
// them (Go's flag package: -name, --name, -name=value, -name value); an
// unknown flag, a bad value or a stray argument is an error naming it.
func Convert(args []string) (*Conversion, error) {
	given, err := parse(args)
	if err != nil {
		return nil, err
	}
	if v, ok := given["version"]; ok && v == "true" {
		return nil, errors.New("-version: derper only prints its version with it; relayctl's is `relayctl version`")
	}
	c := &Conversion{}
	for _, f := range Flags {
		v, ok := given[f.Name]
		if !ok || f.converted {
			continue
		}
		if f.typ == typeList {
			c.set(f.Setting, true, splitList(v)...)
		} else {
			c.set(f.Setting, false, v)
		}
	}
	if err := convertTLS(c, given); err != nil {
		return nil, err
	}
	convertKeys(c, given)
	convertNotCarried(c, given)
	c.differ("the accept rate limit (-accept-connection-limit) closes extra connections and keeps serving; derper's listener error stops derper")
	c.differ("/debug/varz keeps derper's metric names; /metrics (and --metrics-addr) also has relayctl's Prometheus-style names (see docs/migrating-from-derper.md)")
	if given["verify-clients"] == "true" {
		c.differ("with verify-clients, relayctl checks at start that tailscaled answers on its socket and refuses to start otherwise (verify-clients-allow-unreachable: start and reject clients until it does); derper starts and rejects every client meanwhile")
	}
	if _, ok := given["verify-client-url"]; ok {
		c.differ("the admission webhook fails open only when it is unreachable (confirmed by a circuit breaker); a webhook that times out or answers with an error rejects the client")
	}
	slices.SortFunc(c.Settings, func(a, b Setting) int { return strings.Compare(a.Name, b.Name) })
	return c, nil
}

// convertTLS decides between TLS and plain HTTP the way derper does: TLS
// when the port of -a is 443 (or "https") or -certmode is manual.
func convertTLS(c *Conversion, given map[string]string) error {
	addr, addrGiven := given["a"]
	if !addrGiven {
		addr = ":443"
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-a %q: %v", addr, err)
	}
	if given["dev"] == "true" {
		c.set("dev", false, "true")
		c.differ("derper -dev listens on :3340 on every interface and ignores -a; relayctl --dev listens on 127.0.0.1:3340 (set addr: \":3340\" to listen everywhere)")
		if addrGiven {
			c.differ("-a %s is ignored by derper in -dev mode and so is left out", addr)
		}
		return nil
	}
	if addrGiven {
		c.set("addr", false, addr)
	}
	mode := given["certmode"]
	if mode == "" {
		mode = "letsencrypt"
	}
	switch mode {
	case "letsencrypt", "manual", "gcp":
	default:
		return fmt.Errorf("-certmode %q: derper knows manual, letsencrypt and gcp", mode)
	}
	tls := port == "443" || port == "https" || mode == "manual"
	if !tls {
		c.set("certmode", false, "none")
		c.differ("derper serves plain HTTP on port %s (TLS only on 443 or with -certmode manual): certmode is none, so relayctl does too", port)
		for _, name := range []string{"certdir", "http-port", "acme-email", "acme-ip-certs", "acme-eab-kid", "acme-eab-key"} {
			if _, ok := given[name]; ok {
				c.unset(name)
				c.differ("-%s does nothing without TLS and is left out", name)
			}
		}
		if h, ok := given["hostname"]; ok {
			c.set("hostname", false, h) // shown on the home page and /debug/
		}
		return nil
	}
	if mode == "manual" {
		c.set("certmode", false, "manual")
	} else {
		c.set("certmode", false, "letsencrypt")
	}
	host, ok := given["hostname"]
	if !ok {
		host = "derp.tailscale.com"
		c.differ("derper's default -hostname is derp.tailscale.com; relayctl needs the node's own name: set hostname")
	}
	c.set("hostname", false, host)
	if dir, ok := given["certdir"]; ok {
		c.set("certdir", false, dir)
	} else {
		c.differ("derper kept certificates in ~/.cache/tailscale/derper-certs of the user it ran as; relayctl uses <state>/certs: set certdir to derper's directory to keep them")
	}
	kid, kidOK := given["acme-eab-kid"]
	eabKey, keyOK := given["acme-eab-key"]
	if mode == "gcp" {
		if !kidOK || !keyOK || kid == "" || eabKey == "" {
			return errors.New("-certmode gcp needs -acme-eab-kid and -acme-eab-key (derper refuses to start without them)")
		}
		if given["acme-email"] == "" {
			return errors.New("-certmode gcp needs -acme-email (derper refuses to start without it)")
		}
		c.set("acme-directory-url", false, GTSDirectoryURL)
		c.set("acme-eab-kid", false, kid)
		c.set("acme-eab-key", false, eabKey)
		c.differ("-certmode gcp is certmode letsencrypt with Google Trust Services' ACME directory and External Account Binding")
	} else if kidOK || keyOK {
		c.differ("-acme-eab-kid/-acme-eab-key are used by derper only with -certmode gcp and are left out")
	}
	return nil
}

// convertKeys carries the node key file and the mesh key.
func convertKeys(c *Conversion, given map[string]string) {
	if given["dev"] == "true" {
		c.differ("derper -dev reads the mesh key from %s only; relayctl reads it in every mode (a mesh-psk-file wins)", MeshKeyEnv)
		if _, ok := given["c"]; ok {
			c.differ("-c is ignored by derper in -dev mode (a fresh key each start), and so left out")
		}
	} else {
		keyFile, ok := given["c"]
		if !ok {
			keyFile = DefaultRootKeyFile
			c.differ("no -c: derper used %s (as root); relayctl is pointed at it to keep the node key", DefaultRootKeyFile)
		}
		c.set("key-file", false, keyFile)
		c.differ("the node key in %s is used as is, so clients keep trusting this node; relayctl refuses it if others can read it (chmod 600 %s)", keyFile, keyFile)
	}
	if f, ok := given["mesh-psk-file"]; ok && f != "" {
		c.set("mesh-psk-file", false, f)
		c.differ("the mesh key file %s must be mode 0600 for relayctl", f)
	} else if _, ok := given["mesh-with"]; ok && given["secrets-url"] == "" {
		c.differ("no -mesh-psk-file: derper looked for /home/derp/keys/derp-mesh.key and ~/keys/derp-mesh.key; relayctl needs mesh-psk-file (or %s) to mesh", MeshKeyEnv)
	}
}

// convertNotCarried reports the flags relayctl has no setting for.
func convertNotCarried(c *Conversion, given map[string]string) {
	if given["ace"] == "true" {
		c.differ("-ace (Tailscale's experimental CONNECT proxy) is not carried: CONNECT requests get the home page")
	}
	if given["secrets-url"] != "" {
		c.differ("-secrets-url (the mesh key from Tailscale's setec service) is not carried: put the key in a file and set mesh-psk-file (a mounted secret or systemd LoadCredential=), or set %s", MeshKeyEnv)
	}
	for _, name := range []string{"secrets-cache-dir", "secrets-path-prefix"} {
		if _, ok := given[name]; ok {
			c.differ("-%s is not carried (setec) and is left out", name)
		}
	}
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parse reads args with Go's flag package, as derper does, and returns the
// last value given for each flag.
func parse(args []string) (map[string]string, error) {
	fs := flag.NewFlagSet("derper", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	given := map[string]string{}
	for _, f := range Flags {
		fs.Var(&recorder{flag: f, given: given}, f.Name, "")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errors.New("-h: derper only prints its usage with it")
		}
		return nil, fmt.Errorf("%v (derper %s has no such flag; see docs/migrating-from-derper.md)", err, DerperVersion)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("argument %q: derper takes no arguments and stops reading flags there, so %q would be ignored; remove it", fs.Arg(0), fs.Args())
	}
	return given, nil
}

// recorder is one derper flag: it checks the value as derper's flag type
// would and records it.
type recorder struct {
	flag  Flag
	given map[string]string
}

func (r *recorder) String() string { return "" }

func (r *recorder) IsBoolFlag() bool { return r.flag.typ == typeBool }

func (r *recorder) Set(v string) error {
	var err error
	switch r.flag.typ {
	case typeBool:
		var b bool
		b, err = strconv.ParseBool(v)
		v = strconv.FormatBool(b)
	case typeInt:
		_, err = strconv.ParseInt(v, 0, 64)
	case typeFloat:
		_, err = strconv.ParseFloat(v, 64)
	case typeDuration:
		_, err = time.ParseDuration(v)
	}
	if err != nil {
		return errors.New("bad value")
	}
	r.given[r.flag.Name] = v
	return nil
}

// IsDerperCommand reports whether word names the derper program (as the
// first word of a pasted command line or ExecStart).
func IsDerperCommand(word string) bool {
	return strings.HasPrefix(path.Base(word), "derper")
}
