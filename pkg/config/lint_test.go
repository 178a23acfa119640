package config

import (
	"strings"
	"testing"
)

// TestLintRules: one row per rule, an inventory that must trigger it; the
// base inventory must not.
func TestLintRules(t *testing.T) {
	clean := buildAll(t, mustParse(t, base), nil)
	for _, tc := range []struct {
		rule string
		src  string
		env  map[string]string
		key  string
	}{
		{LTrace, base + "\n[server.log]\ntrace = true\n", nil, "server.log.trace"},
		{LDebug, base + "\n[server.log]\ndebug = true\n", nil, "server.log.debug"},
		{LPlaintextSecret, strings.Replace(base, "password = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'", `password = "samplepassword"`, 1), nil, "server.auth.password"},
		{LMaxConnZero, base + "\n[server]\nmax_connections = 0\n", nil, "server.max_connections"},
		{LMaxConnNofile, base + "\n[server]\nmax_connections = 1000000\n[tune]\nnofile = 65536\n", nil, "server.max_connections"},
		{LMaxConnNofile, base + "\n[server]\nmax_connections = 1000000\n", nil, "server.max_connections"}, // systemd's default 524288
		{LPayloadLarge, base + "\n[server]\nmax_payload = \"16MB\"\n", nil, "server.max_payload"},
		{LPayloadPending, base + "\n[server]\nmax_payload = \"1MB\"\nmax_pending = \"512KB\"\n", nil, "server.max_payload"},
		{LClusterNoName, strings.Replace(base, "name = \"t\"\n", "", 1), nil, "cluster.name"},
		{LJetStreamFew, base + "\n[[node]]\nname = \"d\"\nhost = \"10.0.0.4\"\njetstream.enabled = true\njetstream.store_dir = \"/var/lib/nats\"\n", nil, "jetstream.enabled"},
		{LWriteDeadline, base + "\n[server]\nwrite_deadline = \"100ms\"\n", nil, "server.write_deadline"},
		{LWriteDeadline, base + "\n[server]\nwrite_deadline = \"5m\"\n", nil, "server.write_deadline"},
		{LLameDuck, base + "\n[server]\nlame_duck_duration = \"10s\"\n", nil, "server.lame_duck_duration"},
		{LLameDuck, base + "\n[server]\nlame_duck_duration = \"30s\"\nlame_duck_grace_period = \"30s\"\n", nil, "server.lame_duck_grace_period"},
		{LNoAuth, strings.Replace(base, "[server.auth]\nuser = \"app\"\npassword = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'\n", "", 1), nil, "server.auth"},
		{LStoreDir, base + "\n[jetstream]\nenabled = true\n", nil, "jetstream.store_dir"},
		{LStoreDir, base + "\n[jetstream]\nenabled = true\nstore_dir = \"/tmp/js\"\n", nil, "jetstream.store_dir"},
		{LLogNoRotation, base + "\n[server.log]\nfile = \"/var/log/nats.log\"\n", nil, "server.log.size_limit"},
		{LControlLineSmall, base + "\n[server]\nmax_control_line = 512\n", nil, "server.max_control_line"},
		{LRouteNoAuth, base, nil, "cluster"},
		{LShortSecret, strings.Replace(base, "password = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'", `password = "env:PW"`, 1), map[string]string{"PW": "short"}, "server.auth.password"},
		{LInsecureSSH, base + "\n[ssh]\nhost_key_checking = \"insecure\"\n", nil, "ssh.host_key_checking"},
		{LServerTooOld, base + "\n[service]\nnats_version = \"2.9.10\"\n[server.log]\nmax_files = 3\n", nil, "server.log.max_files"},
	} {
		t.Run(tc.rule+"/"+tc.key, func(t *testing.T) {
			if tc.rule != LRouteNoAuth && hasRule(clean.Findings, tc.rule) {
				t.Fatalf("the clean base inventory already triggers %s", tc.rule)
			}
			res := buildAll(t, mustParse(t, tc.src), tc.env)
			var got *Finding
			for i, f := range res.Findings {
				if f.Rule == tc.rule {
					got = &res.Findings[i]
				}
			}
			if got == nil {
				t.Fatalf("rule %s did not fire; findings:\n%s", tc.rule, findingsText(res.Findings))
			}
			if got.Key != tc.key {
				t.Errorf("finding key = %q, want %q", got.Key, tc.key)
			}
			if got.Fix == "" || got.Message == "" || got.Line == 0 {
				t.Errorf("finding lacks message, fix or line: %+v", *got)
			}
			if got.Severity != ruleSeverity(tc.rule) {
				t.Errorf("severity %s, want %s", got.Severity, ruleSeverity(tc.rule))
			}
			// L005 reads the inventory only: it says so, and where the
			// running server's limit is shown.
			if tc.rule == LMaxConnNofile && (!strings.Contains(got.Message, "a static check against the inventory, not the running server") || !strings.Contains(got.Fix, "natsops status, check and tune --check show the running server's limit")) {
				t.Errorf("L005 does not say it is static: %+v", *got)
			}
		})
	}
}

func TestRulesAreDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] || r.Name == "" || r.Why == "" {
			t.Errorf("rule %+v is duplicated or undocumented", r)
		}
		seen[r.ID] = true
	}
}
