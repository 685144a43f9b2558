// Package render draws relayctl's human output: tables that are boxed and
// coloured on a terminal and plain aligned text in a pipe, and a progress
// line for terminals. Colour follows NO_COLOR (https://no-color.org).
package render

import (
	"io"
	"os"

	"github.com/charmbracelet/x/term"
)

// Mode says how to draw for one output stream.
type Mode struct {
	// Styled draws boxed tables; otherwise plain aligned columns.
	Styled bool
	// Color adds ANSI colours (only used when Styled).
	Color bool
}

// ModeFor picks the mode for w: styled on a terminal, coloured unless
// NO_COLOR is set to a non-empty value or TERM is "dumb".
func ModeFor(w io.Writer) Mode { return modeFor(IsTerminal(w), os.Getenv) }

func modeFor(terminal bool, getenv func(string) string) Mode {
	if !terminal {
		return Mode{}
	}
	return Mode{Styled: true, Color: getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"}
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(f.Fd())
}
