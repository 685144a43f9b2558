package logging

import (
	"net/url"
	"strings"
)

// RedactURL drops a URL's credentials and query (which may carry a
// token), for logs, status files and debug pages. A string that is not
// an absolute URL is returned as it is.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if err != nil && strings.Contains(s, "://") {
			return "<unparseable URL>"
		}
		return s
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		return s
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "<redacted>"
	}
	u.Fragment = ""
	return u.String()
}

// RedactArgs is a command line with every URL redacted, in either flag
// form (--flag URL and --flag=URL).
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if name, value, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "-") {
			out[i] = name + "=" + RedactURL(value)
			continue
		}
		out[i] = RedactURL(a)
	}
	return out
}
