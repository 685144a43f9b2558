package render

import (
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/muesli/termenv"
)

// Tone colours a cell by meaning.
type Tone int

// Tones.
const (
	Normal Tone = iota
	Good
	Warn
	Bad
	Faint
)

// Cell is one table cell.
type Cell struct {
	Text string
	Tone Tone
}

// Table is a titled table.
type Table struct {
	Title   string // a line above the table; empty for none
	Headers []string
	Rows    [][]Cell
}

// Render draws t in mode m, ending with a newline.
func (m Mode) Render(t Table) string {
	if m.Styled {
		return m.styled(t)
	}
	return plain(t)
}

// plain aligns columns with two spaces between them and no trailing
// spaces, so that scripts can split on whitespace runs.
func plain(t Table) string {
	widths := make([]int, len(t.Headers))
	for i, h := range t.Headers {
		widths[i] = lipgloss.Width(h)
	}
	for _, row := range t.Rows {
		for i, c := range row {
			if i < len(widths) {
				widths[i] = max(widths[i], lipgloss.Width(c.Text))
			}
		}
	}
	var b strings.Builder
	if t.Title != "" {
		b.WriteString(t.Title + "\n")
	}
	line := func(cells []string) {
		var l strings.Builder
		for i, c := range cells {
			if i > 0 {
				l.WriteString("  ")
			}
			l.WriteString(c)
			if i < len(cells)-1 {
				l.WriteString(strings.Repeat(" ", widths[i]-lipgloss.Width(c)))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	headers := make([]string, len(t.Headers))
	for i, h := range t.Headers {
		headers[i] = strings.ToUpper(h)
	}
	line(headers)
	for _, row := range t.Rows {
		cells := make([]string, len(t.Headers))
		for i := range cells {
			if i < len(row) {
				cells[i] = row[i].Text
			}
		}
		line(cells)
	}
	return b.String()
}

func (m Mode) styled(t Table) string {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	if m.Color {
		r.SetColorProfile(termenv.ANSI)
	}
	base := r.NewStyle().Padding(0, 1)
	tones := map[Tone]lipgloss.Style{
		Normal: base,
		Good:   base.Foreground(lipgloss.Color("2")),
		Warn:   base.Foreground(lipgloss.Color("3")),
		Bad:    base.Foreground(lipgloss.Color("1")).Bold(true),
		Faint:  base.Faint(true),
	}
	rows := make([][]string, len(t.Rows))
	for i, row := range t.Rows {
		rows[i] = make([]string, len(t.Headers))
		for j := range rows[i] {
			if j < len(row) {
				rows[i][j] = row[j].Text
			}
		}
	}
	tbl := table.New().
		Border(lipgloss.RoundedBorder()).
		BorderStyle(r.NewStyle().Faint(m.Color)).
		Headers(t.Headers...).
		Rows(rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			if row == table.HeaderRow {
				return base.Bold(true)
			}
			if row < len(t.Rows) && col < len(t.Rows[row]) {
				return tones[t.Rows[row][col].Tone]
			}
			return base
		})
	var b strings.Builder
	if t.Title != "" {
		b.WriteString(r.NewStyle().Bold(true).Render(t.Title) + "\n")
	}
	b.WriteString(tbl.Render() + "\n")
	return b.String()
}
