package certs

import "path/filepath"

// FileBase is the file name stem for hostname's certificate and key: the
// host name with every character outside [A-Za-z0-9.-] removed, as derper
// does, so the same certificate directory serves both (an IPv6 address
// loses its colons: "2001:db8::1" becomes "2001db81").
func FileBase(hostname string) string {
	b := make([]byte, 0, len(hostname))
	for i := range len(hostname) {
		c := hostname[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' {
			b = append(b, c)
		}
	}
	return string(b)
}

// Paths are the certificate and key files for hostname in dir:
// dir/<FileBase>.crt and dir/<FileBase>.key.
func Paths(dir, hostname string) (certFile, keyFile string) {
	base := filepath.Join(dir, FileBase(hostname))
	return base + ".crt", base + ".key"
}
