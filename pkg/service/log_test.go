package service

import (
	"fmt"
	"strings"
	"testing"
)

func TestExplainLog(t *testing.T) {
	echo := func(i int) string {
		return fmt.Sprintf(`Dec 02 14:35:%02d n1 nats-server[812]: [812] 2026/12/02 14:35:%02d.%06d [WRN] Healthcheck failed: "JetStream has not established contact with a meta leader"`, i/20, i/20, i*50000%1000000)
	}
	var seen []string
	seen = append(seen, "Dec 02 14:35:00 n1 nats-server[812]: [812] 2026/12/02 14:35:00.000001 [INF] Starting nats-server")
	seen = append(seen, "Dec 02 14:35:00 n1 nats-server[812]: [812] 2026/12/02 14:35:00.000002 [INF] Waiting for routing to be established...")
	for i := 0; i < 200; i++ {
		seen = append(seen, echo(i))
	}
	for _, tc := range []struct {
		name, raw string
		max       int
		want      []string // lines, in order, each a substring of the line
		not       []string
	}{
		{
			name: "the testbed's failed bootstrap: 200 echoes of natsops's polling and the line that says why",
			raw:  strings.Join(seen, "\n"),
			max:  20,
			want: []string{"Starting nats-server", "Waiting for routing to be established...", `Healthcheck failed: "JetStream has not established contact with a meta leader"  (logged 200 times: the server answering natsops's health polls)`},
		},
		{
			name: "a window of max lines keeps the newest",
			raw:  "[1] 2026/12/02 10:00:00.000000 [INF] a\n[1] 2026/12/02 10:00:01.000000 [INF] b\n[1] 2026/12/02 10:00:02.000000 [ERR] c\n",
			max:  2,
			want: []string{"[INF] b", "[ERR] c"},
			not:  []string{"[INF] a"},
		},
		{
			name: "a run of one message is folded; the same message later again is not merged across others",
			raw:  "[9] 2026/12/02 10:00:00.1 [ERR] bind: address already in use\n[9] 2026/12/02 10:00:00.2 [ERR] bind: address already in use\n[9] 2026/12/02 10:00:00.3 [INF] exiting\n[9] 2026/12/02 10:00:00.4 [ERR] bind: address already in use\n",
			max:  20,
			want: []string{"10:00:00.2 [ERR] bind: address already in use  (logged 2 times)", "[INF] exiting", "10:00:00.4 [ERR] bind: address already in use"},
			not:  []string{"the server answering"},
		},
		{
			name: "file log lines without a journal prefix, two different echoes each kept once",
			raw:  "[7] 2026/12/02 10:00:00.1 [WRN] Healthcheck failed: \"a\"\n[7] 2026/12/02 10:00:00.2 [WRN] Healthcheck failed: \"b\"\n[7] 2026/12/02 10:00:00.3 [WRN] Healthcheck failed: \"a\"\n",
			max:  20,
			want: []string{`Healthcheck failed: "b"`, `10:00:00.3 [WRN] Healthcheck failed: "a"  (logged 2 times`},
		},
		{name: "empty", raw: "", max: 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ExplainLog(tc.raw, tc.max)
			lines := strings.Split(got, "\n")
			if got == "" {
				lines = nil
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.want), got)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d = %q, want it to contain %q", i+1, lines[i], w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("output has %q:\n%s", n, got)
				}
			}
		})
	}
}
