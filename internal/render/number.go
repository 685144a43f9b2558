package render

import "fmt"

// SI writes a count or rate with three significant digits and a k or M
// suffix: 950, 1.2k, 3.46M.
func SI(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}
