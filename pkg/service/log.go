package service

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var (
	// journalPrefix is journalctl's short format: "Dec 02 16:08:43 host
	// nats-server[123]: ".
	journalPrefix = regexp.MustCompile(`^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ \S+\[\d+\]: `)
	// serverPrefix is nats-server's own: "[123] 2026/12/02 16:08:43.123456 ".
	serverPrefix = regexp.MustCompile(`^\[\d+\] (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(\.\d+)? )?`)
)

// logMessage is a log line without its journal and server prefixes (pid,
// time): two lines with the same message say the same thing.
func logMessage(line string) string {
	return serverPrefix.ReplaceAllString(journalPrefix.ReplaceAllString(line, ""), "")
}

// pollEcho reports a line the server logs because it was asked: natsops
// polls /healthz every 50ms while a node comes back, and a server that is
// not ready logs a warning for every poll.
func pollEcho(msg string) bool { return strings.Contains(msg, "Healthcheck failed") }

// ExplainLog picks, from a server's last log lines (oldest first), the
// last max lines that explain what it is doing: every echo of natsops's own
// health polling is kept once, at its last occurrence, with how often it
// was said, and other runs of one message are folded the same way, so the
// line that says why a node is not back is not pushed out of the window.
func ExplainLog(raw string, max int) string {
	lines := strings.Split(strings.TrimRight(raw, "\n"), "\n")
	type entry struct {
		line  string
		count int
		echo  bool
	}
	var out []entry // newest first
	echoAt := map[string]int{}
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimRight(lines[i], "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		msg := logMessage(l)
		if pollEcho(msg) {
			if k, ok := echoAt[msg]; ok {
				out[k].count++
				continue
			}
			if len(out) == max {
				continue
			}
			echoAt[msg] = len(out)
			out = append(out, entry{line: l, count: 1, echo: true})
			continue
		}
		if k := len(out) - 1; k >= 0 && !out[k].echo && logMessage(out[k].line) == msg {
			out[k].count++
			continue
		}
		if len(out) == max {
			break
		}
		out = append(out, entry{line: l, count: 1})
	}
	slices.Reverse(out)
	var b strings.Builder
	for i, e := range out {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.line)
		switch {
		case e.count > 1 && e.echo:
			fmt.Fprintf(&b, "  (logged %d times: the server answering natsops's health polls)", e.count)
		case e.count > 1:
			fmt.Fprintf(&b, "  (logged %d times)", e.count)
		}
	}
	return b.String()
}
