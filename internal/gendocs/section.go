package gendocs

import (
	"bytes"
	"fmt"
	"os"
)

// A Section is a generated part of a hand-written document, between
// <!-- generated: NAME --> and <!-- end generated: NAME --> lines.
type Section struct {
	File string // relative to the repository root
	Name string
	Body string
}

// markers are the lines around a section.
func (s Section) markers() (begin, end []byte) {
	return []byte("<!-- generated: " + s.Name + " (go generate ./...; do not edit) -->\n"),
		[]byte("<!-- end generated: " + s.Name + " -->\n")
}

// Splice returns doc with the section's body replaced by s.Body.
func (s Section) Splice(doc []byte) ([]byte, error) {
	begin, end := s.markers()
	i := bytes.Index(doc, begin)
	j := bytes.Index(doc, end)
	if i < 0 || j < i {
		return nil, fmt.Errorf("%s: no %q … %q markers", s.File, bytes.TrimSpace(begin), bytes.TrimSpace(end))
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.WriteString(s.Body)
	out.Write(doc[j:])
	return out.Bytes(), nil
}

// Current reports whether the section in repo's file already reads
// s.Body.
func (s Section) Current(repo string) (bool, error) {
	doc, err := os.ReadFile(repo + "/" + s.File)
	if err != nil {
		return false, err
	}
	want, err := s.Splice(doc)
	if err != nil {
		return false, err
	}
	return bytes.Equal(doc, want), nil
}

// Write splices the section into repo's file.
func (s Section) Write(repo string) error {
	path := repo + "/" + s.File
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := s.Splice(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}
