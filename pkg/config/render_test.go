package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/templates"
)

var update = flag.Bool("update", false, "rewrite golden files")

var testEnv = map[string]string{"ADMIN_PASSWORD": "admin-Secret-1234", "NATS_TOKEN": "tok-0123456789abcdef", "SYS_PASSWORD": "sys-Secret-98765",
	// inventory/supercluster.toml's
	"NATS_ROUTE_PASSWORD": "route-Secret-12345", "NATS_GATEWAY_PASSWORD": "gw-Secret-123456", "NATS_SYS_PASSWORD": "sys-Secret-123456", "NATS_LEAF_PASSWORD": "leaf-Secret-123456"}

// TestGolden renders every test and example inventory and compares each
// node's config with testdata/golden. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	for _, src := range []string{"testdata/full.toml", "testdata/single.toml", "../../inventory/example.toml", "../../inventory/local.toml"} {
		inv, err := cluster.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		res := buildAll(t, inv, testEnv)
		if !res.OK(SevError) {
			t.Fatalf("%s: %s", src, findingsText(res.Findings))
		}
		checkGolden(t, strings.TrimSuffix(filepath.Base(src), ".toml"), res.Configs)
	}
}

// checkGolden compares each config with testdata/golden/DIR/<node>.conf
// (with -update: writes it).
func checkGolden(t *testing.T, dir string, configs []*Rendered) {
	t.Helper()
	for _, c := range configs {
		golden := filepath.Join("testdata", "golden", dir, c.Node.Name+".conf")
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, c.Config, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if !bytes.Equal(c.Config, want) {
			t.Errorf("%s differs from %s (run go test -update and review the diff):\n%s", c.Node.Name, golden, c.Config)
		}
	}
}

// TestGoldenEstate renders every node of every cluster of the
// supercluster example (gateways, leaf nodes, accounts) and compares it
// with testdata/golden/supercluster.
func TestGoldenEstate(t *testing.T) {
	est, err := cluster.LoadEstate("../../inventory/supercluster.toml")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[*cluster.Inventory][]*cluster.Node{}
	for _, c := range est.Clusters {
		nodes[c] = c.Nodes
	}
	res := BuildEstate(est, ts, nodes, cluster.MapEnv(testEnv))
	if !res.OK(SevError) || len(res.Configs) != 7 {
		t.Fatalf("%d configs: %s", len(res.Configs), findingsText(res.Findings))
	}
	checkGolden(t, "supercluster", res.Configs)
}

func TestRenderIsDeterministic(t *testing.T) {
	inv, err := cluster.Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	a, b := buildAll(t, inv, testEnv), buildAll(t, inv, testEnv)
	for i := range a.Configs {
		if !bytes.Equal(a.Configs[i].Config, b.Configs[i].Config) {
			t.Errorf("node %s rendered differently twice", a.Configs[i].Node.Name)
		}
	}
}

// TestRenderedValuesReachServer parses the rendered configs with
// nats-server and checks what it got, not what we wrote.
func TestRenderedValuesReachServer(t *testing.T) {
	inv, err := cluster.Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := LoadTemplates(nil)
	tls := &tlsStandIns{}
	defer tls.cleanup()
	r, err := Render(inv, ts, inv.Nodes[2], RenderOptions{Env: cluster.MapEnv(testEnv), TLSPath: tls.path})
	if err != nil {
		t.Fatal(err)
	}
	o := &server.Options{}
	if err := o.ProcessConfigString(string(r.Config)); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"server_name", o.ServerName, "eu-3"},
		{"max_payload", o.MaxPayload, int32(1 << 20)},
		{"max_control_line", o.MaxControlLine, int32(8 << 10)},
		{"write_deadline", o.WriteDeadline.String(), "5s"},
		{"ping_interval", o.PingInterval.String(), "1m0s"},
		{"lame_duck_duration", o.LameDuckDuration.String(), "45s"},
		{"auth timeout", o.AuthTimeout, 1.5},
		{"log file", o.LogFile, "/var/log/nats/日志.log"},
		{"cluster port", o.Cluster.Port, 7222},
		{"pool size", o.Cluster.PoolSize, 3},
		{"routes", len(o.Routes), 2},
		{"route host", o.Routes[0].Host, "10.1.0.1:6222"},
		{"users", len(o.Users), 3},
		{"admin password", userPassword(o, "admin"), "admin-Secret-1234"},
		{"system user's password", userPassword(o, "sys"), "sys-Secret-98765"},
		{"system user's account", userAccount(o, "sys"), "$SYS"},
		{"nkeys", len(o.Nkeys), 1},
		{"tags", strings.Join(o.Tags, "|"), `region:eu|tier "gold"`},
		{"jetstream max file", o.JetStreamMaxStore, int64(100 << 30)},
		{"websocket port", o.Websocket.Port, 8080},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: nats-server read %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if u, _ := o.Routes[0].User.Password(); u != "r0ute-pa$$/word@x" {
		t.Errorf("route password decoded as %q", u)
	}
}

// TestNewServerValidationIsRun: a config the parser accepts but
// nats-server refuses at start is an error, mapped to the inventory key.
// (Lint reports this case too, with a fix; Build keeps lint's finding.)
func TestNewServerValidationIsRun(t *testing.T) {
	inv := mustParse(t, base+"\n[server]\nmax_payload = \"1MB\"\nmax_pending = \"512KB\"\n")
	ts, _ := LoadTemplates(nil)
	r, err := Render(inv, ts, inv.Nodes[0], RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&server.Options{}).ProcessConfigString(string(r.Config)); err != nil {
		t.Fatalf("the parser alone should accept this config: %v", err)
	}
	fs := validateConfig(inv, r)
	if len(fs) != 1 {
		t.Fatalf("want one finding, got:\n%s", findingsText(fs))
	}
	f := fs[0]
	if f.Rule != RuleOptions || f.Key != "server.max_payload" || f.Line != 21 || !strings.Contains(f.Message, "cannot be higher than max_pending") {
		t.Errorf("finding = %+v", f)
	}
	res := Build(inv, ts, inv.Nodes, nil)
	if res.OK(SevError) || !hasRule(res.Findings, LPayloadPending) || hasRule(res.Findings, RuleOptions) {
		t.Errorf("Build should report L007 once, not NATS002 again:\n%s", findingsText(res.Findings))
	}
}

// TestParserErrorsMapToInventory uses a broken override template: the
// parser error names the node and the rendered line, and since the value
// comes from the template (the inventory's 1MB renders fine with the
// embedded templates), it blames the template file and line, not the
// inventory key.
func TestParserErrorsMapToInventory(t *testing.T) {
	main, _ := templates.FS.ReadFile(templates.Main)
	broken := strings.Replace(string(main), "max_payload: {{size .}}", "max_payload: {{q \"lots\"}}", 1)
	ts, err := LoadTemplates(fstest.MapFS{templates.Main: {Data: []byte(broken)}})
	if err != nil {
		t.Fatal(err)
	}
	inv := mustParse(t, base+"\n[server]\nmax_payload = \"1MB\"\n")
	res := Build(inv, ts, inv.Nodes[:1], nil)
	if len(res.Findings) == 0 || res.OK(SevError) {
		t.Fatalf("broken template accepted:\n%s", findingsText(res.Findings))
	}
	f := res.Findings[0]
	if f.Rule != RuleParse || f.Node != "a" || f.Key != "" || f.File != templates.Main || f.Line != strings.Count(broken[:strings.Index(broken, "max_payload: {{q")], "\n")+1 ||
		!strings.Contains(f.Message, "(max_payload)") || !strings.Contains(f.Message, "from the template, not the inventory") ||
		!strings.Contains(f.Fix, "comes from the template "+templates.Main) || strings.Contains(f.Fix, "in the inventory") {
		t.Errorf("finding = %+v", f)
	}

	// A template that passes the inventory's value through: an error in
	// that value is still the inventory's.
	inv = mustParse(t, base+"\n[server]\nmax_payload = \"20MB\"\nmax_pending = \"10MB\"\n")
	ok, _ := LoadTemplates(fstest.MapFS{templates.Main: {Data: main}})
	res = Build(inv, ok.WithDir("/tmp/tpl"), inv.Nodes[:1], nil)
	for _, f := range res.Findings {
		if strings.Contains(f.Message, "from the template") {
			t.Errorf("the inventory's value blamed on the template: %+v", f)
		}
	}

	// A template that hard-codes an impossible value, named with its
	// directory.
	hard := strings.Replace(string(main), "{{- with .Server.MaxPayload}}", "max_payload: 20MB\nmax_pending: 10MB\n{{- with .Server.MaxPayload}}", 1)
	hts, err := LoadTemplates(fstest.MapFS{templates.Main: {Data: []byte(hard)}})
	if err != nil {
		t.Fatal(err)
	}
	inv = mustParse(t, base)
	res = Build(inv, hts.WithDir("/tmp/tpl"), inv.Nodes[:1], nil)
	found := false
	for _, f := range res.Findings {
		if f.Severity == SevError && f.File == "/tmp/tpl/"+templates.Main && strings.Contains(f.Fix, "template /tmp/tpl/"+templates.Main) {
			found = true
		}
		if strings.Contains(f.Fix, "in the inventory") {
			t.Errorf("a template's value blamed on the inventory: %+v", f)
		}
	}
	if !found {
		t.Errorf("no finding names the template:\n%s", findingsText(res.Findings))
	}
}

// TestSecretsNeverInFindings: a template that misplaces a password makes
// nats-server quote it; the finding must not carry it.
func TestSecretsNeverInFindings(t *testing.T) {
	main, _ := templates.FS.ReadFile(templates.Main)
	leaky := strings.Replace(string(main), "port: {{int .Server.Port}}", "listen: {{secret .Auth.Password}}", 1)
	ts, err := LoadTemplates(fstest.MapFS{templates.Main: {Data: []byte(leaky)}})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "Sup3r-Secret-Value"
	inv := mustParse(t, strings.Replace(base, "password = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'", `password = "env:PW"`, 1))
	res := Build(inv, ts, inv.Nodes, cluster.MapEnv(map[string]string{"PW": pw}))
	text := findingsText(res.Findings)
	if res.OK(SevError) {
		t.Fatalf("leaky template accepted:\n%s", text)
	}
	if strings.Contains(text, pw) {
		t.Errorf("a finding reveals the secret:\n%s", text)
	}
}

func TestMaskedRenderHidesSecrets(t *testing.T) {
	inv, err := cluster.Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := LoadTemplates(nil)
	r, err := Render(inv, ts, inv.Nodes[0], RenderOptions{Env: cluster.MapEnv(testEnv), Mask: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"admin-Secret-1234", "r0ute-pa", "$2a$11$"} {
		if bytes.Contains(r.Config, []byte(s)) {
			t.Errorf("masked config contains %q", s)
		}
	}
	if !bytes.Contains(r.Config, []byte(Masked)) {
		t.Error("masked config has no placeholder")
	}
}

func TestUnresolvedSecretIsAFinding(t *testing.T) {
	inv, err := cluster.Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	res := buildAll(t, inv, nil)
	if res.OK(SevError) || !hasRule(res.Findings, RuleSecret) {
		t.Fatalf("missing ADMIN_PASSWORD not reported:\n%s", findingsText(res.Findings))
	}
	if !strings.Contains(findingsText(res.Findings), "ADMIN_PASSWORD is not set") {
		t.Errorf("finding does not name the variable:\n%s", findingsText(res.Findings))
	}
}

func TestTLSStandInsReported(t *testing.T) {
	inv, err := cluster.Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	res := buildAll(t, inv, testEnv)
	if !hasRule(res.Findings, RuleTLSLocal) {
		t.Fatalf("no %s info:\n%s", RuleTLSLocal, findingsText(res.Findings))
	}
	// The written config keeps the node's real paths.
	if !bytes.Contains(res.Configs[0].Config, []byte(`"/etc/nats/tls/server.pem"`)) {
		t.Errorf("rendered config lost the real TLS path:\n%s", res.Configs[0].Config)
	}
}

func TestExamplesValidate(t *testing.T) {
	for _, name := range []string{"example.toml", "local.toml"} {
		inv, err := cluster.Load("../../inventory/" + name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res := buildAll(t, inv, nil)
		if !res.OK(SevWarning) {
			t.Errorf("%s has errors or warnings:\n%s", name, findingsText(res.Findings))
		}
		if len(res.Configs) != 3 {
			t.Errorf("%s rendered %d configs, want 3", name, len(res.Configs))
		}
	}
}

func userPassword(o *server.Options, name string) string {
	for _, u := range o.Users {
		if u.Username == name {
			return u.Password
		}
	}
	return ""
}

func userAccount(o *server.Options, name string) string {
	for _, u := range o.Users {
		if u.Username == name && u.Account != nil {
			return u.Account.Name
		}
	}
	return ""
}
