package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium package; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// browserWidth is the viewport width the page must fit without
// scrolling sideways: a laptop screen.
const browserWidth, browserHeight = 1280, 800

// TestStatusPageInBrowser renders `relayctl probe`'s status page in a real
// headless Chromium and checks what a person would see: the region
// overview, every node row, the latency sparkline, the certificate's days
// left in colour and a failing region, each present, visible and inside a
// 1280 px wide window, with no table overflowing it sideways. The full-page
// screenshot must decode and not be blank; it is left in the test's temp
// directory (path logged), or in $RELAYCTL_SCREENSHOT_DIR to keep it.
func TestStatusPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no %s (Debian package chromium; .ci/run installs it): %v", chromiumPath, err)
	}
	t.Parallel()

	// Region 901 is a healthy relayctl node whose certificate has ten
	// days left: amber, between the 7-day red and the 14-day warning line.
	// Region 902's node is stopped, so every one of its probes fails.
	healthy := startFleetNode(t, relayctlServer, "901a", fleetNodeOpts{tls: true, notAfter: time.Now().Add(10*24*time.Hour + time.Hour)})
	down := startFleetNode(t, relayctlServer, "902a", fleetNodeOpts{tls: true})
	down.stop()
	mapPath := writeFleetMap(t,
		fleetRegion{901, "good", []map[string]any{healthy.mapNode(901)}},
		fleetRegion{902, "down", []map[string]any{down.mapNode(902)}},
	)
	base := startStatusPage(t, mapPath)

	// Two passing rounds make each of 901a's three sparklines a line, not
	// a dot.
	waitUntil(t, 30*time.Second, "status page with latency lines and certificate days", func() error {
		page, err := debugGet(t.Context(), base, "/")
		if err != nil {
			return err
		}
		if n := strings.Count(page, "<polyline"); n < 3 {
			return fmt.Errorf("%d of 3 latency lines drawn yet", n)
		}
		for _, want := range []string{`class="days warn"`, `<td class="fail">fail</td>`} {
			if !strings.Contains(page, want) {
				return fmt.Errorf("page lacks %q yet", want)
			}
		}
		return nil
	})

	got, shot := inspectInBrowser(t, base+"/", statusPageChecks)
	for _, c := range statusPageChecks {
		el := got[c.name]
		if problem := el.problem(c); problem != "" {
			t.Errorf("%s (%s): %s", c.name, c.selector, problem)
		}
	}
	if over := got["document"]; over.ScrollWidth > browserWidth {
		t.Errorf("page is %d px wide in a %d px window: it scrolls sideways", over.ScrollWidth, browserWidth)
	}

	// The temp directory goes with the test; RELAYCTL_SCREENSHOT_DIR keeps
	// the screenshot for a person (or a CI artifact) to look at.
	dir := os.Getenv("RELAYCTL_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "status-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	checkScreenshot(t, shot)
}

// elementCheck is one thing the page must show.
type elementCheck struct {
	name     string
	selector string
	class    string // a class the element must have, if set
	text     string // a regexp its text must match, if set
	coloured bool   // its text colour must differ from the body's
	drawn    string // a selector inside it that must have a non-empty bounding box (an SVG shape)
	oneLine  bool   // its text must not wrap
}

var statusPageChecks = []elementCheck{
	{name: "heading", selector: "h1", text: `relayctl probe`},
	{name: "summary line", selector: "body > p", text: `\d+ ok,\s+\d+ warn,\s+\d+ failed`},
	{name: "overview table", selector: "table.overview"},
	{name: "overview 901", selector: `table.overview tr:has(a[href="#region-901"]) td:nth-child(3)`, class: "warn", text: `^warn$`, coloured: true},
	{name: "overview 902", selector: `table.overview tr:has(a[href="#region-902"]) td:nth-child(3)`, class: "fail", text: `^fail$`, coloured: true},
	{name: "region 901 table", selector: "#region-901 + table"},
	{name: "region 902 table", selector: "#region-902 + table"},
	{name: "failures table", selector: "h2:last-of-type + table"},
	{name: "region 901 heading", selector: "#region-901", text: `Region 901 \(good\)`},
	{name: "region 902 heading", selector: "#region-902", text: `Region 902 \(down\)`},
	{name: "row 901a stun4", selector: `tr[id="901/901a/stun4"] td:nth-child(3)`, class: "ok"},
	{name: "row 901a tls", selector: `tr[id="901/901a/tls"] td:nth-child(3)`, class: "warn"},
	{name: "row 901a derp", selector: `tr[id="901/901a/derp"] td:nth-child(3)`, class: "ok"},
	{name: "row 902a stun4", selector: `tr[id="902/902a/stun4"] td:nth-child(3)`, class: "fail"},
	{name: "row 902a tls", selector: `tr[id="902/902a/tls"] td:nth-child(3)`, class: "fail"},
	{name: "row 902a derp", selector: `tr[id="902/902a/derp"] td:nth-child(3)`, class: "fail"},
	{name: "row 902a error", selector: `tr[id="902/902a/derp"] .err`, text: `\S`},
	{name: "certificate days", selector: `tr[id="901/901a/tls"] .days`, class: "warn", text: `^10 days$`, coloured: true},
	{name: "certificate cell", selector: `tr[id="901/901a/tls"] td:nth-child(5)`, text: `^10 days \d{4}-\d\d-\d\d \(10d\)$`, oneLine: true},
	{name: "last run heading", selector: `#region-901 + table th:nth-child(6)`, text: `^Last run$`, oneLine: true},
	{name: "sparkline hour", selector: `tr[id="901/901a/derp"] svg.spark`, drawn: "rect.spark-hour"},
	{name: "derp sparkline", selector: `tr[id="901/901a/derp"] svg.spark`, drawn: "polyline.spark-line"},
	{name: "failure sparkline", selector: `tr[id="902/902a/derp"] svg.spark`, drawn: "line.spark-fail"},
	{name: "recent dots", selector: `tr[id="901/901a/derp"] .dot.ok`},
	{name: "recent failures", selector: "h2:last-of-type", text: `Recent failures`},
}

// elementState is what the browser reports about one element.
type elementState struct {
	Found       bool    `json:"found"`
	Visible     bool    `json:"visible"` // checkVisibility: no display:none, visibility:hidden or opacity:0 on it or an ancestor
	Display     string  `json:"display"`
	Visibility  string  `json:"visibility"`
	Left        float64 `json:"left"`
	Right       float64 `json:"right"`
	Width       float64 `json:"width"`
	Height      float64 `json:"height"`
	Classes     string  `json:"classes"`
	Text        string  `json:"text"`
	Colour      string  `json:"colour"`
	BodyColour  string  `json:"bodyColour"`
	DrawnWidth  float64 `json:"drawnWidth"`  // bounding box of the drawn shape
	DrawnHeight float64 `json:"drawnHeight"` // (height is 0 for a flat line)
	DrawnPoints string  `json:"drawnPoints"`
	Lines       int     `json:"lines"`       // line boxes its text takes
	ScrollWidth int     `json:"scrollWidth"` // document only
}

// problem says what is wrong with the element, or "".
func (e elementState) problem(c elementCheck) string {
	switch {
	case !e.Found:
		return "missing"
	case !e.Visible || e.Display == "none" || e.Visibility == "hidden":
		return fmt.Sprintf("not visible (display %s, visibility %s)", e.Display, e.Visibility)
	case e.Width <= 0 || e.Height <= 0:
		return fmt.Sprintf("empty box %.0fx%.0f", e.Width, e.Height)
	case e.Left < 0 || e.Right > browserWidth:
		return fmt.Sprintf("outside the %d px viewport: x from %.0f to %.0f", browserWidth, e.Left, e.Right)
	case c.class != "" && !strings.Contains(" "+e.Classes+" ", " "+c.class+" "):
		return fmt.Sprintf("class %q, want %q", e.Classes, c.class)
	case c.text != "" && !regexp.MustCompile(c.text).MatchString(e.Text):
		return fmt.Sprintf("text %q does not match %q", e.Text, c.text)
	case c.coloured && e.Colour == e.BodyColour:
		return fmt.Sprintf("text colour %s is the body's", e.Colour)
	case c.drawn != "" && (e.DrawnWidth <= 0 && e.DrawnHeight <= 0):
		return fmt.Sprintf("%s draws nothing (bounding box %.1fx%.1f, points %q)", c.drawn, e.DrawnWidth, e.DrawnHeight, e.DrawnPoints)
	case c.oneLine && e.Lines != 1:
		return fmt.Sprintf("text %q wraps onto %d lines", e.Text, e.Lines)
	}
	return ""
}

// inspectJS reports an elementState for each check (argument: the checks
// as [{name, selector, drawn}]) plus "document" with the page's width.
const inspectJS = `(checks) => {
  const out = {document: {found: true, scrollWidth: document.documentElement.scrollWidth}};
  const bodyColour = getComputedStyle(document.body).color;
  for (const c of checks) {
    const el = document.querySelector(c.selector);
    if (!el) { out[c.name] = {found: false}; continue; }
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    const st = {found: true, visible: el.checkVisibility({opacityProperty: true, visibilityProperty: true}),
      display: s.display, visibility: s.visibility, left: r.left, right: r.right, width: r.width, height: r.height,
      classes: el.getAttribute("class") || "", text: el.textContent.trim().replace(/\s+/g, " "), colour: s.color, bodyColour};
    const range = document.createRange();
    range.selectNodeContents(el);
    st.lines = new Set([...range.getClientRects()].filter(b => b.width > 0).map(b => Math.round(b.bottom))).size;
    if (c.drawn) {
      const shape = el.querySelector(c.drawn);
      if (shape) {
        const b = shape.getBBox();
        st.drawnWidth = b.width; st.drawnHeight = b.height;
        st.drawnPoints = shape.getAttribute("points") || "";
      }
    }
    out[c.name] = st;
  }
  return out;
}`

// inspectInBrowser loads url in a headless Chromium and returns each
// check's element state and a full-page PNG screenshot.
func inspectInBrowser(t *testing.T, url string, checks []elementCheck) (map[string]elementState, []byte) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // the CI runs as root, where the sandbox will not start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(browserWidth, browserHeight),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	arg := make([]map[string]string, len(checks))
	for i, c := range checks {
		arg[i] = map[string]string{"name": c.name, "selector": c.selector, "drawn": c.drawn}
	}
	argJSON, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]elementState
	var shot []byte
	// The page refreshes itself every probe interval; checks and the
	// screenshot run right after a load, and a refresh landing in between
	// is retried.
	var runErr error
	for range 3 {
		runErr = chromedp.Do(browserCtx,
			chromedp.EmulateViewport(browserWidth, browserHeight),
			chromedp.Navigate(url),
			chromedp.WaitVisible(chromedp.CSS("table.overview")),
		)
		if runErr == nil {
			got, runErr = chromedp.Run(browserCtx, chromedp.Evaluate[map[string]elementState]("("+inspectJS+")("+string(argJSON)+")"))
		}
		if runErr == nil {
			shot, runErr = chromedp.Run(browserCtx, chromedp.FullScreenshot(100)) // quality 100: PNG
		}
		if runErr == nil && allFound(got) {
			return got, shot
		}
		t.Logf("browser run: %v, all elements found: %v (retrying)", runErr, allFound(got))
	}
	if runErr != nil {
		t.Fatalf("chromium: %v", runErr)
	}
	return got, shot
}

// allFound reports whether every checked element was on the page; a
// document caught mid-refresh lacks some.
func allFound(got map[string]elementState) bool {
	for _, e := range got {
		if !e.Found {
			return false
		}
	}
	return len(got) > 0
}

// checkScreenshot fails unless shot is a PNG as wide as the window and
// shows more than a blank page: text, green, amber and red take many colours.
func checkScreenshot(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != browserWidth || b.Dy() < browserHeight/4 {
		t.Errorf("screenshot is %dx%d, want %d wide and a page tall", b.Dx(), b.Dy(), browserWidth)
	}
	if n := distinctColours(img, 64); n < 16 {
		t.Errorf("screenshot has only %d distinct colours: blank or unstyled", n)
	}
}

// distinctColours counts the colours in img, stopping at limit.
func distinctColours(img image.Image, limit int) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// startStatusPage runs `relayctl probe` in continuous mode on a free
// loopback port with one-second rounds and returns its base URL.
func startStatusPage(t *testing.T, mapPath string) string {
	t.Helper()
	p := startProcess(t, "relayctl probe", binaryFor(t, relayctlServer), nil,
		"probe", "--derp-map", mapPath, "--listen", "127.0.0.1:0", "--interval", "1s",
		"--timeout", "800ms", "--log-format", "json")
	p.waitLog(t, 15*time.Second, `"msg":"probing"`)
	var line struct {
		Listen string `json:"listen"`
	}
	for l := range strings.Lines(p.logs.String()) {
		if strings.Contains(l, `"msg":"probing"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("probing log line %q: %v", l, err)
			}
		}
	}
	if line.Listen == "" {
		t.Fatalf("no listen address in the probing log line:\n%s", p.logs)
	}
	return "http://" + line.Listen
}
