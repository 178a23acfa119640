package config

import (
	"fmt"
	"sort"
	"strings"
)

// Severity ranks a finding.
type Severity string

// Severities, from worst.
const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
	SevInfo    Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case SevError:
		return 0
	case SevWarning:
		return 1
	}
	return 2
}

// Finding is one result of validation or lint: a stable rule ID, a
// severity, where it is (node, inventory key, file:line) and the fix.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Node     string   `json:"node,omitempty"`
	Key      string   `json:"key,omitempty"`
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
	// conf is the rendered config's key a nats-server finding is about.
	conf string
}

func (f Finding) String() string {
	var b strings.Builder
	if f.File != "" {
		b.WriteString(f.File)
		if f.Line > 0 {
			fmt.Fprintf(&b, ":%d", f.Line)
		}
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%s %s", f.Severity, f.Rule)
	if f.Node != "" {
		fmt.Fprintf(&b, " node %s", f.Node)
	}
	if f.Key != "" {
		fmt.Fprintf(&b, " %s", f.Key)
	}
	fmt.Fprintf(&b, ": %s", f.Message)
	if f.Fix != "" {
		fmt.Fprintf(&b, "\n    fix: %s", f.Fix)
	}
	return b.String()
}

// sortFindings orders findings by severity, file position, node and rule,
// so output is stable from run to run.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity.rank() != b.Severity.rank() {
			return a.Severity.rank() < b.Severity.rank()
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Rule < b.Rule
	})
}

// Count returns how many findings have severity s.
func Count(fs []Finding, s Severity) int {
	n := 0
	for _, f := range fs {
		if f.Severity == s {
			n++
		}
	}
	return n
}
