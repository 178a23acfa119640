package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/remote"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func testRun() Run {
	return Run{ID: "r1", Command: "restart", Operation: "restart graceful n1,n2", Who: "ops@jump", From: "jump", Version: "v1.0.0",
		Inventory: "/etc/natsops.toml", InventorySHA256: "abc", Started: t0, Nodes: []string{"n1", "n2"}}
}

func testSteps() []Step {
	return []Step{
		{Step: "lock", Result: "ok", ElapsedMS: 5},
		{Node: "n1", Step: "stop", Result: "ok", ElapsedMS: 100},
		{Node: "n1", Step: "ready", Result: "ok", ElapsedMS: 900},
		{Node: "n2", Step: "stop", Result: "ok", ElapsedMS: 110},
		{Node: "n2", Step: "ready", Result: "failed", ElapsedMS: 120000, Detail: "not back"},
		{Step: "unlock", Result: "ok"},
	}
}

func stepNames(ss []Step) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Node+"/"+s.Step)
	}
	return out
}

func TestBuild(t *testing.T) {
	res := Result{End: t0.Add(3 * time.Second), Order: []string{"n1", "n2"}, Plan: []Planned{{Node: "n1", Change: "restart", Items: []string{"mode graceful"}}, {Node: "n2", Change: "restart", Items: []string{"mode graceful"}}},
		Steps: testSteps(), Done: []string{"n1"}, NotDone: []string{"n2"}, FailedNode: "n2", Outcome: Failed, Error: "n2: ready failed", ExitCode: 3}
	local, nodes := Build(testRun(), res, nil)
	if local.Node != "" || len(local.Steps) != 6 || len(local.Plan) != 2 || local.DurationMS != 3000 || local.Schema != Schema || local.Run != "r1" {
		t.Fatalf("local record: %+v", local)
	}
	tests := []struct {
		node    string
		steps   []string
		outcome string
	}{
		{"n1", []string{"/lock", "n1/stop", "n1/ready", "/unlock"}, NodeDone},
		{"n2", []string{"/lock", "n2/stop", "n2/ready", "/unlock"}, NodeFailed},
	}
	if len(nodes) != len(tests) {
		t.Fatalf("%d node records, want %d", len(nodes), len(tests))
	}
	for i, tt := range tests {
		r := nodes[i]
		if r.Node != tt.node || !slices.Equal(stepNames(r.Steps), tt.steps) || r.NodeOutcome != tt.outcome {
			t.Errorf("record %d: node %s steps %v outcome %s, want %s %v %s", i, r.Node, stepNames(r.Steps), r.NodeOutcome, tt.node, tt.steps, tt.outcome)
		}
		if len(r.Plan) != 1 || r.Plan[0].Node != tt.node || r.Plan[0].Change != "restart" {
			t.Errorf("record %s plan %+v", r.Node, r.Plan)
		}
		if r.Outcome != Failed || r.ExitCode != 3 || r.Who != "ops@jump" || r.InventorySHA256 != "abc" || !slices.Equal(r.Order, []string{"n1", "n2"}) {
			t.Errorf("record %s: %+v", r.Node, r)
		}
	}
}

func TestNodeOutcome(t *testing.T) {
	res := Result{Done: []string{"a"}, Skipped: []string{"b"}, NotDone: []string{"c", "d"}, FailedNode: "c"}
	for _, tt := range []struct{ node, want string }{
		{"a", NodeDone}, {"b", NodeSkipped}, {"c", NodeFailed}, {"d", NodeNotDone}, {"e", NodeNotDone},
	} {
		if got := nodeOutcome(tt.node, res); got != tt.want {
			t.Errorf("nodeOutcome(%s) = %s, want %s", tt.node, got, tt.want)
		}
	}
}

// TestOutcome: how a run ended, from its error alone (a rollout's own
// kinds are pkg/rollout's).
func TestOutcome(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"none", nil, OK},
		{"ctrl-c mid node", fmt.Errorf("stop n1: %w", context.Canceled), Interrupted},
		{"other", errors.New("ssh"), Failed},
	} {
		if got := Outcome(tt.err); got != tt.want {
			t.Errorf("%s: Outcome = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestNoSecretInRecords: an inventory with a literal, an env: and a
// file: secret, and a run whose every text carries them (a step's detail,
// the error, the plan), leaves none of them in any record as written.
func TestNoSecretInRecords(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "route.pw"), []byte("route-file-secret-77\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `[cluster]
name = "t"
user = "route"
password = "file:route.pw"

[server.auth]
system_user = "sys"
system_password = "literal-system-secret-42"

[[server.auth.users]]
user = "app"
password = "env:APP_PW"

[[node]]
name = "n1"
host = "10.0.0.1"

[[node]]
name = "n2"
host = "10.0.0.2"
`
	path := filepath.Join(dir, "natsops.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := cluster.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	env := cluster.MapEnv(map[string]string{"APP_PW": "env-app-secret-13"})
	secrets := Secrets(inv, env)
	want := []string{"env-app-secret-13", "literal-system-secret-42", "route-file-secret-77"}
	for _, w := range want {
		if !slices.Contains(secrets, w) {
			t.Fatalf("Secrets = %q, missing %q", secrets, w)
		}
	}
	leak := strings.Join(want, " ")
	run := testRun()
	run.Operation = "restart " + leak
	res := Result{End: t0.Add(time.Second), Plan: []Planned{{Node: "n1", Change: "reload", Items: []string{"authorization " + leak}}},
		Steps:   []Step{{Node: "n1", Step: "logs", Result: "ok", Detail: "[ERR] auth " + leak}, {Step: "lock", Result: "ok", Detail: "nats://route:" + want[2] + "@10.0.0.2:6222"}},
		Outcome: Failed, Error: "n1: " + leak}
	local, nodes := Build(run, res, secrets)
	for _, r := range append(nodes, local) {
		for _, limit := range []int{MaxNodeLine, MaxLocalLine} {
			line := string(Fit(r, limit))
			for _, w := range want {
				if strings.Contains(line, w) {
					t.Errorf("record for %q carries secret %q: %s", r.Node, w, line)
				}
			}
			if !strings.Contains(line, config.Masked) {
				t.Errorf("record for %q shows no mask where the secrets were: %s", r.Node, line)
			}
		}
	}
}

func TestFit(t *testing.T) {
	long := strings.Repeat("x", 5000)
	many := make([]Step, 200)
	for i := range many {
		many[i] = Step{Node: "n1", Step: fmt.Sprintf("s%d", i), Result: "ok", Detail: "some detail"}
	}
	for _, tt := range []struct {
		name      string
		steps     []Step
		truncated bool
		// kept: the first and the last step survive.
		kept bool
	}{
		{"small stays whole", testSteps(), false, true},
		{"a long detail is cut", append(testSteps(), Step{Node: "n1", Step: "logs", Result: "ok", Detail: long}, Step{Step: "unlock", Result: "ok"}), true, true},
		{"many steps: the middle ones go", many, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Record{Schema: Schema, Run: "r", Command: "restart", Node: "n1", Steps: tt.steps}
			b := Fit(r, MaxNodeLine)
			if len(b) > MaxNodeLine || b[len(b)-1] != '\n' || strings.Count(string(b), "\n") != 1 {
				t.Fatalf("line of %d bytes (limit %d), newlines %d", len(b), MaxNodeLine, strings.Count(string(b), "\n"))
			}
			var got Record
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.Truncated != tt.truncated {
				t.Errorf("truncated = %v, want %v", got.Truncated, tt.truncated)
			}
			if tt.kept && (got.Steps[0].Step != tt.steps[0].Step || got.Steps[len(got.Steps)-1].Step != tt.steps[len(tt.steps)-1].Step) {
				t.Errorf("first/last steps %v, want %s .. %s", stepNames(got.Steps), tt.steps[0].Step, tt.steps[len(tt.steps)-1].Step)
			}
			if !tt.truncated && len(got.Steps) != len(tt.steps) {
				t.Errorf("%d steps, want %d", len(got.Steps), len(tt.steps))
			}
		})
	}
}

func TestParse(t *testing.T) {
	good := func(run, node string) string {
		b, _ := json.Marshal(Record{Schema: Schema, Run: run, Command: "restart", Node: node, Nodes: []string{"n1", "n2"}})
		return string(b)
	}
	in := strings.Join([]string{
		good("r1", ""),
		`{"v":1,"run":"r2","comm`, // cut short (a crash mid-write elsewhere)
		"",
		`{"hello":"world"}`, // JSON, not a record
		"not json at all",
		good("r3", "n1"),
	}, "\n") + "\n"
	recs, warns := Parse(strings.NewReader(in), "audit.jsonl")
	var runs []string
	for _, r := range recs {
		runs = append(runs, r.Run)
	}
	if !slices.Equal(runs, []string{"r1", "r3"}) {
		t.Errorf("runs %v, want r1 r3", runs)
	}
	wantWarn := []string{"audit.jsonl:2:", "audit.jsonl:4:", "audit.jsonl:5:"}
	if len(warns) != len(wantWarn) {
		t.Fatalf("warnings %q, want %d", warns, len(wantWarn))
	}
	for i, w := range wantWarn {
		if !strings.HasPrefix(warns[i], w) {
			t.Errorf("warning %d = %q, want prefix %q", i, warns[i], w)
		}
	}
}

func TestSelect(t *testing.T) {
	recs := []Record{
		{Run: "1", Nodes: []string{"a", "b"}},
		{Run: "2", Nodes: []string{"b"}},
		{Run: "3", Node: "a", Nodes: []string{"a"}},
		{Run: "4", Nodes: []string{"c"}},
	}
	for _, tt := range []struct {
		node  string
		limit int
		want  []string
	}{
		{"", 0, []string{"1", "2", "3", "4"}},
		{"", 2, []string{"3", "4"}},
		{"", 10, []string{"1", "2", "3", "4"}},
		{"a", 0, []string{"1", "3"}},
		{"b", 1, []string{"2"}},
		{"z", 0, nil},
	} {
		var got []string
		for _, r := range Select(recs, tt.node, tt.limit) {
			got = append(got, r.Run)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Select(%q, %d) = %v, want %v", tt.node, tt.limit, got, tt.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		home string
		want string
	}{
		{"override", map[string]string{EnvLog: "/ci/audit.jsonl", "XDG_STATE_HOME": "/x"}, "/h", "/ci/audit.jsonl"},
		{"xdg", map[string]string{"XDG_STATE_HOME": "/x"}, "/h", "/x/natsops/audit.jsonl"},
		{"relative xdg is ignored (the spec)", map[string]string{"XDG_STATE_HOME": "x"}, "/h", "/h/.local/state/natsops/audit.jsonl"},
		{"HOME", map[string]string{"HOME": "/home/ops"}, "/h", "/home/ops/.local/state/natsops/audit.jsonl"},
		{"home from the ssh env", nil, "/h", "/h/.local/state/natsops/audit.jsonl"},
		{"nowhere", nil, "", ""},
	} {
		if got := LocalPath(cluster.MapEnv(tt.env), tt.home); got != tt.want {
			t.Errorf("%s: LocalPath = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestAppendAndReadNode appends through a real shell (remote.Local):
// the directory is created 0750, the file 0640, two records land as two
// lines, and ReadNode reads them back (a missing log is empty).
func TestAppendAndReadNode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	n := &cluster.Node{Name: "n1", Connection: "local"}
	n.Service.ConfigPath = filepath.Join(dir, "n1.conf")
	h := &remote.Local{NodeName: "n1", NoSudo: true}
	ctx := context.Background()
	if b, err := ReadNode(ctx, h, n); err != nil || len(b) != 0 {
		t.Fatalf("missing log: %q, %v", b, err)
	}
	r := Record{Schema: Schema, Run: "r1", Command: "restart", Node: "n1", Nodes: []string{"n1"}, Steps: testSteps()}
	for _, id := range []string{"r1", "r2"} {
		r.Run = id
		if err := AppendNode(ctx, h, n, Fit(r, MaxNodeLine)); err != nil {
			t.Fatal(err)
		}
	}
	for path, mode := range map[string]os.FileMode{dir: 0o750 | os.ModeDir, PathFor(n): 0o640} {
		st, err := os.Stat(path)
		if err != nil || st.Mode() != mode {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode(), err, mode)
		}
	}
	b, err := ReadNode(ctx, h, n)
	if err != nil {
		t.Fatal(err)
	}
	recs, warns := Parse(strings.NewReader(string(b)), "x")
	if len(warns) > 0 || len(recs) != 2 || recs[0].Run != "r1" || recs[1].Run != "r2" || len(recs[1].Steps) != 6 {
		t.Fatalf("read back %+v, warnings %v", recs, warns)
	}
	if PathFor(&cluster.Node{Name: "x"}) != NodePath {
		t.Errorf("an SSH node's log is %s, want %s", PathFor(&cluster.Node{Name: "x"}), NodePath)
	}
}

// TestSinkWarnsAndGoesOn: a node whose log cannot be written (its
// directory is a file) and an unreachable node each give one warning
// naming host and path; the other node and the local log are written.
func TestSinkWarnsAndGoesOn(t *testing.T) {
	dir := t.TempDir()
	nodes := map[string]*cluster.Node{}
	for _, name := range []string{"ok", "blocked", "down"} {
		n := &cluster.Node{Name: name, Connection: "local"}
		n.Service.ConfigPath = filepath.Join(dir, name, "n.conf")
		nodes[name] = n
	}
	if err := os.WriteFile(filepath.Join(dir, "blocked"), []byte("a file, not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	connect := func(ctx context.Context, n *cluster.Node) (remote.Host, error) {
		if n.Name == "down" {
			return nil, errors.New("ssh: connection refused")
		}
		return &remote.Local{NodeName: n.Name, NoSudo: true}, nil
	}
	run := testRun()
	run.Nodes = []string{"ok", "blocked", "down"}
	local, recs := Build(run, Result{End: t0, Outcome: OK}, nil)
	localPath := filepath.Join(dir, "state", "natsops", "audit.jsonl")
	warns := Sink{Nodes: nodes, Connect: connect, Local: localPath}.Write(context.Background(), local, recs)
	var hosts []string
	for _, w := range warns {
		hosts = append(hosts, w.Host)
		if !strings.Contains(w.String(), w.Host) || !strings.Contains(w.String(), PathFor(nodes[w.Host])) {
			t.Errorf("warning %q does not name host and path", w)
		}
	}
	slices.Sort(hosts)
	if !slices.Equal(hosts, []string{"blocked", "down"}) {
		t.Errorf("warnings for %v, want blocked and down: %v", hosts, warns)
	}
	for _, p := range []string{localPath, PathFor(nodes["ok"])} {
		b, err := ReadLocal(p)
		if recs, _ := Parse(strings.NewReader(string(b)), p); err != nil || len(recs) != 1 {
			t.Errorf("%s: %d records (%v)", p, len(recs), err)
		}
	}
	if w := (Sink{Nodes: nodes, Connect: connect}).Write(context.Background(), local, nil); len(w) != 1 || w[0].Host != "local" {
		t.Errorf("no local path: warnings %v, want one for local", w)
	}
}
