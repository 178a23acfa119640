package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/natsops/natsops/pkg/config"
)

// writeJSON is the one path for -o json: indented, stable key order.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiGreen  = "\x1b[32m"
	ansiReset  = "\x1b[0m"
)

type style struct{ on bool }

func (s style) paint(code, text string) string {
	if !s.on {
		return text
	}
	return code + text + ansiReset
}

func (s style) severity(sev config.Severity) string {
	switch sev {
	case config.SevError:
		return s.paint(ansiRed, string(sev))
	case config.SevWarning:
		return s.paint(ansiYellow, string(sev))
	}
	return s.paint(ansiCyan, string(sev))
}

// printFindings writes findings for people: location, severity, rule, what
// and the fix on its own line.
func printFindings(w io.Writer, st style, fs []config.Finding) {
	for _, f := range fs {
		loc := f.File
		if f.Line > 0 {
			loc = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		var who []string
		if f.Node != "" {
			who = append(who, "node "+f.Node)
		}
		if f.Key != "" {
			who = append(who, f.Key)
		}
		subject := ""
		if len(who) > 0 {
			subject = strings.Join(who, " ") + ": "
		}
		fmt.Fprintf(w, "%s: %s %s: %s%s\n", loc, st.severity(f.Severity), f.Rule, subject, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "    fix: %s\n", f.Fix)
		}
	}
}

func summary(fs []config.Finding) map[string]int {
	return map[string]int{
		"errors":   config.Count(fs, config.SevError),
		"warnings": config.Count(fs, config.SevWarning),
		"info":     config.Count(fs, config.SevInfo),
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// writeJSONLine writes v as one line (for one-object-per-host and event
// streams).
func writeJSONLine(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func prefixLines(w io.Writer, prefix, text string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
