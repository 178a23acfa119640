package ansible

import (
	"fmt"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
)

// Kind says what went wrong, for the caller's exit code.
type Kind int

const (
	// KindInvalid: the document, or what it says about the group's hosts,
	// cannot make a natsops inventory (not an inventory, bad JSON, an
	// empty group, a host with no address, ...).
	KindInvalid Kind = iota
	// KindNoGroup: the group asked for does not exist (a bad argument).
	KindNoGroup
)

// Problem is one thing wrong, placed by source, group and host, with
// what to do about it.
type Problem struct {
	Source string `json:"source"`
	Group  string `json:"group,omitempty"`
	Host   string `json:"host,omitempty"`
	Msg    string `json:"message"`
	Fix    string `json:"fix,omitempty"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Source)
	b.WriteString(": ")
	if p.Group != "" {
		fmt.Fprintf(&b, "group %s: ", printable(p.Group))
	}
	if p.Host != "" {
		fmt.Fprintf(&b, "host %s: ", printable(p.Host))
	}
	b.WriteString(p.Msg)
	if p.Fix != "" {
		b.WriteString("\n    fix: ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// Error is every problem an import found, so one run shows them all.
type Error struct {
	Kind     Kind
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems importing the Ansible inventory:\n%s", len(lines), strings.Join(lines, "\n"))
}

// printable is a name from the document as it is when plain, else quoted.
func printable(s string) string { return cluster.Printable(s) }
