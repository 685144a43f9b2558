package cmd

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// benchError is a bench failure as the operator should read it: errors
// that many clients hit alike (a joined error) are shown once with a
// count, and a certificate no CA signed gets the --insecure hint.
type benchError struct {
	msg string
	err error
}

func (e *benchError) Error() string { return e.msg }
func (e *benchError) Unwrap() error { return e.err }

func newBenchError(err error, insecure bool) error {
	msg := condenseJoined(err)
	var unknownCA x509.UnknownAuthorityError
	if !insecure && errors.As(err, &unknownCA) {
		msg += " (a self-signed relay? pass --insecure to accept its certificate)"
	}
	return &benchError{msg: msg, err: err}
}

// condenseJoined writes err with the errors it joins (errors.Join) grouped:
// "E (18 clients)" instead of E on 18 lines.
func condenseJoined(err error) string {
	msg := err.Error()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return msg
	}
	whole := joined.(error).Error()
	prefix, ok := strings.CutSuffix(msg, whole)
	if !ok {
		return msg
	}
	var order []string
	count := map[string]int{}
	for _, e := range joined.Unwrap() {
		if e == nil {
			continue
		}
		s := e.Error()
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = s
		if n := count[s]; n > 1 {
			parts[i] = fmt.Sprintf("%s (%d clients)", s, n)
		}
	}
	return prefix + strings.Join(parts, "; ")
}
