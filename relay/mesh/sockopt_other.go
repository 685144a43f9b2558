//go:build !linux

package mesh

import "syscall"

// setNotSentLowat is Linux-only (TCP_NOTSENT_LOWAT); elsewhere the
// kernel's default buffering stays.
func setNotSentLowat(syscall.RawConn) error { return nil }
