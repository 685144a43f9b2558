package admission

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"syscall"
)

var (
	errNoSocket   = errors.New("no such socket")
	errPermission = errors.New("permission denied")
	errRefused    = errors.New("connection refused (a stale socket: tailscaled is not running)")
)

// classifyDialError strips the HTTP client's wrapping and names the three
// failures operators hit, so Hint can say what to do.
func classifyDialError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %v", errNoSocket, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %v", errPermission, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	return err
}
