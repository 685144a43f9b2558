package render

import (
	"fmt"
	"time"
)

// Age rounds a duration for humans: days past two days, else hours,
// else minutes.
func Age(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return d.Round(time.Hour).String()
	}
	return d.Round(time.Minute).String()
}
