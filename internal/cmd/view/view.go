// Package view is how the commands show natsops's objects to people:
// colour on a terminal (Style), lint findings, the fleet's status table,
// indented multi-line text. It writes to the io.Writer it is given and
// knows nothing of flags, JSON or exit codes (internal/cmdutil).
package view

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/health"
)

// ANSI colours; Style paints only when colour is on.
const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiGreen  = "\x1b[32m"
	ansiReset  = "\x1b[0m"
)

// Style paints text for a terminal that wants colour; the zero value
// paints nothing.
type Style struct{ On bool }

func (s Style) paint(code, text string) string {
	if !s.On {
		return text
	}
	return code + text + ansiReset
}

// Red, Yellow, Green and Cyan paint text.
func (s Style) Red(t string) string    { return s.paint(ansiRed, t) }
func (s Style) Yellow(t string) string { return s.paint(ansiYellow, t) }
func (s Style) Green(t string) string  { return s.paint(ansiGreen, t) }
func (s Style) Cyan(t string) string   { return s.paint(ansiCyan, t) }

func (s Style) severity(sev config.Severity) string {
	switch sev {
	case config.SevError:
		return s.Red(string(sev))
	case config.SevWarning:
		return s.Yellow(string(sev))
	}
	return s.Cyan(string(sev))
}

// PrintFindings writes findings for people: location, severity, rule, what
// and the fix on its own line.
func PrintFindings(w io.Writer, st Style, fs []config.Finding) {
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

// FindingCounts are findings counted by severity.
func FindingCounts(fs []config.Finding) map[string]int {
	return map[string]int{
		"errors":   config.Count(fs, config.SevError),
		"warnings": config.Count(fs, config.SevWarning),
		"info":     config.Count(fs, config.SevInfo),
	}
}

// PrefixLines writes every line of s with prefix.
func PrefixLines(w io.Writer, prefix, s string) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
	}
}

// PrintFleet is one cluster's status table, as `natsops status` shows it
// (the demo shows it the same way), and below it the reasons it is not
// healthy.
func PrintFleet(w io.Writer, st Style, f *health.Fleet) {
	// The table is laid out without colour (tabwriter would count the
	// ANSI codes as width and misalign the columns), then each HEALTH
	// cell is painted in place.
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHEALTH\tVERSION\tUPTIME\tCONNS\tFDS\tSLOW\tROUTES\tJETSTREAM\tMEM\tCPU")
	paints := make([]func(string) string, len(f.Nodes))
	cells := make([]string, len(f.Nodes))
	for i, r := range f.Nodes {
		health := r.Healthz
		fds := r.FDs
		if len(fds) > 48 {
			fds = fds[:47] + "…)"
		}
		switch {
		case !r.Reachable && r.Diagnosis != "":
			health, paints[i] = r.Diagnosis, st.Red
		case !r.Reachable:
			health, paints[i] = "unreachable", st.Red
		case health == "ok":
			paints[i] = st.Green
		default:
			paints[i] = st.Yellow
		}
		cells[i] = health
		if !r.Reachable {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\t-\t-\t%s\t-\t-\n", r.Node, health, fds, r.JetStream)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%d\t%d/%d\t%s\t%s\t%.0f%%\n", r.Node, health, r.Version, r.Uptime,
			r.Connections, r.Capacity, fds, r.SlowConsumers, r.RoutesSeen, r.RoutesWant, r.JetStream, humanBytes(r.MemBytes), r.CPU)
	}
	tw.Flush()
	lines := strings.SplitAfter(buf.String(), "\n")
	col := strings.Index(lines[0], "HEALTH")
	for i := range f.Nodes {
		line := lines[i+1]
		if cell := cells[i]; cell != "" && strings.HasPrefix(line[min(col, len(line)):], cell) {
			lines[i+1] = line[:col] + paints[i](cell) + line[col+len(cell):]
		}
	}
	io.WriteString(w, strings.Join(lines, ""))
	if f.Healthy {
		if f.Cluster != "" {
			fmt.Fprintf(w, "\n%s: cluster %s: %s healthy\n", f.Inventory, f.Cluster, text.Plural(len(f.Nodes), "node"))
			return
		}
		fmt.Fprintf(w, "\n%s: %s healthy\n", f.Inventory, text.Plural(len(f.Nodes), "node"))
		return
	}
	fmt.Fprintf(w, "\nnot healthy:\n")
	for _, r := range f.Reasons {
		fmt.Fprintf(w, "  %s: %s [%s]\n", r.Node, r.Msg, r.Code)
	}
}

// PrintClusters prints several clusters' tables one after another under
// their names (one cluster: its table alone).
func PrintClusters(w io.Writer, st Style, fs []*health.Fleet) {
	if len(fs) == 1 {
		PrintFleet(w, st, fs[0])
		return
	}
	for i, f := range fs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "cluster %s\n", f.Cluster)
		PrintFleet(w, st, f)
	}
}

func humanBytes(n int64) string {
	const mib = 1 << 20
	if n >= 1<<30 {
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%dMiB", (n+mib/2)/mib)
}
