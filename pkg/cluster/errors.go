package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Problem is one thing wrong with an inventory, placed as precisely as we
// can: file, line and column, the node, the key, and what to do about it.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"column,omitempty"`
	// Cluster names the cluster of an estate file ("" in a file of one).
	Cluster string `json:"cluster,omitempty"`
	Node    string `json:"node,omitempty"`
	Key     string `json:"key,omitempty"`
	Msg     string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Where formats the location as file:line:col.
func (p Problem) Where() string {
	switch {
	case p.Line > 0 && p.Col > 0:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	case p.Line > 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Where())
	b.WriteString(": ")
	if p.Cluster != "" {
		fmt.Fprintf(&b, "cluster %s: ", Printable(p.Cluster))
	}
	if p.Node != "" {
		fmt.Fprintf(&b, "node %s: ", Printable(p.Node))
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	if p.Fix != "" {
		b.WriteString("\n    fix: ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// InventoryError lists every problem found in an inventory, so one run shows
// them all instead of one per attempt.
type InventoryError struct {
	Problems []Problem
	// IO: the file could not be read at all (missing, no permission):
	// an I/O failure (exit 1), not an invalid inventory (65).
	IO bool `json:"-"`
}

func (e *InventoryError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems in the inventory:\n%s", len(lines), strings.Join(lines, "\n"))
}

// Printable is s as it is when it is plain printable text, else quoted
// (%q): a name from the inventory with an escape sequence or a NUL must
// not reach the terminal raw.
func Printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
