package render

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// spinnerFrames are braille dots, drawn one per tick.
var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

const spinnerTick = 100 * time.Millisecond

// Progress is a one-line spinner with a message, redrawn in place. It
// draws nothing unless enabled (use IsTerminal on the stream: progress
// belongs on a terminal's stderr only).
type Progress struct {
	w       io.Writer
	enabled bool

	mu    sync.Mutex
	msg   string
	frame int
	stop  chan struct{}
	done  chan struct{}
}

// StartProgress starts the spinner on w when enabled.
func StartProgress(w io.Writer, enabled bool, msg string) *Progress {
	p := &Progress{w: w, enabled: enabled, msg: msg, stop: make(chan struct{}), done: make(chan struct{})}
	if !enabled {
		close(p.done)
		return p
	}
	p.draw()
	go p.loop()
	return p
}

func (p *Progress) loop() {
	defer close(p.done)
	tick := time.NewTicker(spinnerTick)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.draw()
		}
	}
}

// Set replaces the message.
func (p *Progress) Set(format string, args ...any) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	p.msg = fmt.Sprintf(format, args...)
	p.mu.Unlock()
}

func (p *Progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frame = (p.frame + 1) % len(spinnerFrames)
	// \r returns to the line start; \x1b[K clears what a longer message left.
	fmt.Fprintf(p.w, "\r%s %s\x1b[K", spinnerFrames[p.frame], p.msg)
}

// Stop stops the spinner and clears its line.
func (p *Progress) Stop() {
	if !p.enabled {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	fmt.Fprint(p.w, "\r\x1b[K")
}
