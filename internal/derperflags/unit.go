package derperflags

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Unit is what a systemd unit says about how it runs derper.
type Unit struct {
	// Args are ExecStart's arguments after the program.
	Args []string
	// ExecStart is the command line as written (continuations joined).
	ExecStart string
	// Env holds the unit's Environment= assignments.
	Env map[string]string
}

// ParseUnit reads a systemd service unit and returns the derper command of
// its (last) ExecStart, with ${VAR} and $VAR expanded from Environment=.
func ParseUnit(data []byte) (*Unit, error) {
	u := &Unit{Env: map[string]string{}}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var pending strings.Builder
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(line, `\`) {
			pending.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		line = strings.TrimSpace(pending.String() + line)
		pending.Reset()
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section != "[Service]" {
			continue
		}
		switch strings.TrimSpace(key) {
		case "ExecStart":
			u.ExecStart = strings.TrimSpace(value) // an empty ExecStart= resets
		case "Environment":
			words, err := splitUnitWords(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: Environment=: %w", lineNo, err)
			}
			for _, w := range words {
				if k, v, ok := strings.Cut(w, "="); ok {
					u.Env[k] = v
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if u.ExecStart == "" {
		return nil, errors.New("no ExecStart= in the [Service] section")
	}
	cmdline := strings.TrimLeft(u.ExecStart, "-@:+!")
	words, err := splitUnitWords(cmdline)
	if err != nil {
		return nil, fmt.Errorf("ExecStart=: %w", err)
	}
	for i, w := range words {
		if words[i], err = expandUnitVars(w, u.Env); err != nil {
			return nil, fmt.Errorf("ExecStart=: %w", err)
		}
	}
	if len(words) == 0 || !IsDerperCommand(words[0]) {
		return nil, fmt.Errorf("ExecStart= runs %q, not derper", strings.Join(words[:min(1, len(words))], ""))
	}
	u.Args = words[1:]
	return u, nil
}

// splitUnitWords splits a value into words as systemd does: whitespace
// separates, single and double quotes group, backslash escapes.
func splitUnitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '"' || ch == '\'':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// expandUnitVars replaces $VAR and ${VAR} from env. A variable the unit
// does not define (from an EnvironmentFile=, say) is an error naming it.
func expandUnitVars(w string, env map[string]string) (string, error) {
	var out strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '$' || i+1 >= len(w) {
			out.WriteByte(w[i])
			continue
		}
		var name string
		if w[i+1] == '{' {
			end := strings.IndexByte(w[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", w)
			}
			name, i = w[i+2:i+end], i+end
		} else {
			j := i + 1
			for j < len(w) && (w[j] == '_' || w[j] >= 'A' && w[j] <= 'Z' || w[j] >= 'a' && w[j] <= 'z' || w[j] >= '0' && w[j] <= '9') {
				j++
			}
			name, i = w[i+1:j], j-1
		}
		v, ok := env[name]
		if !ok {
			return "", fmt.Errorf("$%s is not set by the unit's Environment= (from an EnvironmentFile?): give the derper flags directly", name)
		}
		out.WriteString(v)
	}
	return out.String(), nil
}
