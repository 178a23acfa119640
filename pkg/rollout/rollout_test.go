package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

const testInventory = `[cluster]
name = "c"

[jetstream]
enabled = true
store_dir = "/var/lib/nats/js"

[server]
lame_duck_duration = "30s"

[[node]]
name = "n1"
host = "10.0.0.1"

[[node]]
name = "n2"
host = "10.0.0.2"

[[node]]
name = "n3"
host = "10.0.0.3"
`

// world is a fake cluster: nodes that run or not, a meta leader, lock and
// state files, and a clock. Hosts and the monitor read and change it.
type world struct {
	mu       sync.Mutex
	now      time.Time
	running  map[string]bool
	start    map[string]time.Time
	ids      map[string]string
	leader   string
	files    map[string]map[string]string // node -> path -> content
	cmds     map[string][]string          // node -> commands run
	steps    []string                     // "node:stop" / "node:start" in order
	maxDown  int
	failNext map[string]string // node -> "start-crash" | "start-error"
	// killOnStart: when the key node is started, the value node dies.
	killOnStart map[string]string
	aliveChecks map[string]int
	// lagging: this many more readings of the node say a stream replica
	// is not current (as 2.9's /healthz does under traffic).
	lagging map[string]int
	// broken: the node's next readings fail /healthz for another reason.
	broken   map[string]int
	restarts int
	// conf is each node's config file and loaded the config its running
	// server loaded (at loadedAt). A config containing "cannot-start"
	// makes the server die at start, "refused" makes a reload fail,
	// "unhealthy" keeps /healthz at 503.
	conf     map[string]string
	loaded   map[string]string
	loadedAt map[string]time.Time
	reloads  map[string]int
	// names are the nodes the world has (n1..n3, and n4 when it joins).
	names []string
	// sinceStart counts each node's readings since its last start: a
	// loaded config containing "flaps" makes the third one a 503 (back,
	// then without its meta leader); "restarts-again" makes the third one a new
	// process.
	sinceStart map[string]int
	// slow: a started node answers only this long after its start (a long
	// first start after an upgrade).
	slow map[string]time.Duration
	// streams are the JetStream streams the nodes hold (Streams), and
	// version the nats-server every node runs (/varz).
	streams []*fakeStream
	version string
	// streamReads counts the /jsz stream readings.
	streamReads int
	// metaBehind: the meta leader's /jsz (Streams) reports these meta
	// peers not current.
	metaBehind map[string]bool
	// conns are the clients each node's /varz reports.
	conns map[string]int
}

func newWorld() *world {
	w := &world{
		now:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		running: map[string]bool{}, start: map[string]time.Time{}, ids: map[string]string{},
		files: map[string]map[string]string{}, cmds: map[string][]string{}, failNext: map[string]string{},
		killOnStart: map[string]string{}, aliveChecks: map[string]int{}, lagging: map[string]int{}, broken: map[string]int{},
		conf: map[string]string{}, loaded: map[string]string{}, loadedAt: map[string]time.Time{}, reloads: map[string]int{},
		leader: "n1", names: []string{"n1", "n2", "n3"},
		sinceStart: map[string]int{}, slow: map[string]time.Duration{},
	}
	for _, n := range w.names {
		w.add(n)
	}
	return w
}

// add gives the world a running node n (a node that joins: not running
// until the test says so).
func (w *world) add(n string) {
	if !slices.Contains(w.names, n) {
		w.names = append(w.names, n)
	}
	w.running[n] = true
	w.start[n] = w.now.Add(-time.Hour)
	w.ids[n] = "ID-" + n + "-0"
	w.files[n] = map[string]string{}
	w.conf[n], w.loaded[n], w.loadedAt[n] = "v1", "v1", w.start[n]
}

func (w *world) Now() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now }

func (w *world) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
	return nil
}

func (w *world) down() int {
	n := 0
	for _, r := range w.running {
		if !r {
			n++
		}
	}
	return n
}

// Snapshot implements Monitor for URL "fake://node".
func (w *world) Snapshot(ctx context.Context, url string) *monitor.Snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	node := strings.TrimPrefix(url, "fake://")
	s := &monitor.Snapshot{URL: url, At: w.now, Errs: map[string]error{}}
	if !w.running[node] || w.now.Before(w.start[node].Add(w.slow[node])) {
		for _, ep := range []string{"healthz", "varz", "routez", "jsz"} {
			s.Errs[ep] = errors.New("connection refused")
		}
		return s
	}
	w.sinceStart[node]++
	if w.sinceStart[node] == 3 && strings.Contains(w.loaded[node], "restarts-again") {
		w.start[node] = w.now
	}
	s.Varz = &monitor.Varz{ServerName: node, ServerID: w.ids[node], Start: w.start[node], ConfigLoadTime: w.loadedAt[node], ConfigDigest: "d:" + w.loaded[node], Version: w.version, Connections: w.conns[node]}
	s.Healthz = &monitor.Healthz{Status: "ok", HTTPStatus: 200}
	if strings.Contains(w.loaded[node], "unhealthy") {
		s.Healthz = &monitor.Healthz{Status: "unavailable", HTTPStatus: 503, Error: "JetStream has not established contact with a meta leader"}
	}
	if w.sinceStart[node] == 3 && strings.Contains(w.loaded[node], "flaps") {
		s.Healthz = &monitor.Healthz{Status: "unavailable", HTTPStatus: 503, Error: "JetStream has not established contact with a meta leader"}
	}
	// "lags-briefly" / "lags-long": from its third reading the node's
	// replica is catching up for two readings / for good.
	if w.sinceStart[node] == 3 && strings.Contains(w.loaded[node], "lags-briefly") {
		w.lagging[node] = 2
	}
	if w.sinceStart[node] == 3 && strings.Contains(w.loaded[node], "lags-long") {
		w.lagging[node] = 1 << 30
	}
	// "peer-lags" / "peer-breaks": on its second reading after a start
	// the node's peers report, for their next two readings, a stream
	// replica catching up / a failure of their own.
	if w.sinceStart[node] == 2 && (strings.Contains(w.loaded[node], "peer-lags") || strings.Contains(w.loaded[node], "peer-breaks")) {
		for _, p := range w.names {
			if p == node {
				continue
			}
			if strings.Contains(w.loaded[node], "peer-lags") {
				w.lagging[p] = 2
			} else {
				w.broken[p] = 2
			}
		}
	}
	if w.broken[node] > 0 {
		w.broken[node]--
		s.Healthz = &monitor.Healthz{Status: "unavailable", HTTPStatus: 503, Error: "JetStream has not established contact with a meta leader"}
	}
	if w.lagging[node] > 0 {
		w.lagging[node]--
		s.Healthz = &monitor.Healthz{Status: "unavailable", HTTPStatus: 503, Error: "JetStream stream '$G > ROLL' is not current"}
	}
	s.Routez = &monitor.Routez{}
	leader := w.leader
	if !w.running[leader] {
		leader = ""
		for _, p := range w.names {
			if w.running[p] {
				leader = p
				break
			}
		}
	}
	meta := &monitor.MetaCluster{Leader: leader, Size: 3}
	for _, p := range w.names {
		if p != node && w.running[p] {
			// Like 2.9.10: /routez names peers by server ID only.
			s.Routez.Routes = append(s.Routez.Routes, monitor.Route{RemoteID: w.ids[p]})
		}
		if p != leader {
			meta.Replicas = append(meta.Replicas, monitor.MetaReplica{Name: p, Current: w.running[p], Offline: !w.running[p]})
		}
	}
	s.Jsz = &monitor.Jsz{ServerID: w.ids[node], Meta: meta}
	return s
}

type fakeHost struct {
	w    *world
	name string
}

func (h *fakeHost) Name() string { return h.name }
func (h *fakeHost) Close() error { return nil }

func (h *fakeHost) Run(ctx context.Context, cmd string, opts remote.RunOptions) (*remote.Result, error) {
	if err := ctx.Err(); err != nil {
		// As over SSH: a cancelled context runs nothing.
		return nil, err
	}
	w := h.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cmds[h.name] = append(w.cmds[h.name], cmd)
	files := w.files[h.name]
	ok := func(s string) (*remote.Result, error) { return &remote.Result{Stdout: []byte(s)}, nil }
	switch {
	case strings.Contains(cmd, service.MarkAlive):
		w.aliveChecks[h.name]++
		if w.running[h.name] {
			return ok(service.MarkAlive + "\n")
		}
		return ok(service.MarkDead + " systemd reports the unit failed\n")
	case strings.Contains(cmd, "natsops:begin"):
		// A Cycle: stop, wait for exit, start.
		var b strings.Builder
		fmt.Fprintf(&b, "natsops:begin %d\n", w.now.UnixMilli())
		if !w.running[h.name] {
			fmt.Fprintf(&b, "natsops:step stop 0 %d\nnatsops:out %s\n", w.now.UnixMilli(), service.MarkNotRunning)
		} else {
			w.running[h.name] = false
			w.steps = append(w.steps, h.name+":stop")
			w.maxDown = max(w.maxDown, w.down())
			w.now = w.now.Add(5 * time.Millisecond)
			fmt.Fprintf(&b, "natsops:step stop 0 %d\nnatsops:out \n", w.now.UnixMilli())
			w.now = w.now.Add(5 * time.Millisecond)
			fmt.Fprintf(&b, "natsops:step exit 0 %d\nnatsops:out %s\n", w.now.UnixMilli(), service.MarkExited)
		}
		if !strings.Contains(cmd, "natsops_step start") {
			return ok(b.String()) // a Halt: stop only
		}
		w.steps = append(w.steps, h.name+":start")
		fail := w.failNext[h.name]
		if strings.Contains(w.conf[h.name], "cannot-start") {
			fail = "start-crash"
		}
		switch fail {
		case "start-crash":
			fmt.Fprintf(&b, "natsops:step start 0 %d\nnatsops:out \n", w.now.UnixMilli())
			return ok(b.String()) // starts, then dies: never back
		case "start-error":
			fmt.Fprintf(&b, "natsops:step start 1 %d\nnatsops:out Job for nats-server.service failed\n", w.now.UnixMilli())
			return &remote.Result{ExitCode: 1, Stdout: []byte(b.String())}, nil
		}
		w.restarts++
		if !slices.Contains(w.names, h.name) {
			w.names = append(w.names, h.name) // a node joining the cluster
		}
		w.running[h.name] = true
		if victim := w.killOnStart[h.name]; victim != "" {
			w.running[victim] = false
		}
		w.now = w.now.Add(10 * time.Millisecond)
		w.start[h.name] = w.now
		w.sinceStart[h.name] = 0
		w.loaded[h.name], w.loadedAt[h.name] = w.conf[h.name], w.now
		w.ids[h.name] = fmt.Sprintf("ID-%s-%d", h.name, w.restarts)
		fmt.Fprintf(&b, "natsops:step start 0 %d\nnatsops:out \n", w.now.UnixMilli())
		return ok(b.String())
	case strings.Contains(cmd, "-s HUP"):
		w.reloads[h.name]++
		w.steps = append(w.steps, h.name+":reload")
		if w.running[h.name] && !strings.Contains(w.conf[h.name], "refused") {
			w.now = w.now.Add(time.Millisecond)
			w.loaded[h.name], w.loadedAt[h.name] = w.conf[h.name], w.now
		}
		return ok("")
	case strings.Contains(cmd, "natsops:locked"):
		if strings.Contains(cmd, "rm -f "+LockPath) {
			delete(files, LockPath)
		}
		if l, held := files[LockPath]; held {
			return ok("natsops:held\n" + l)
		}
		i := strings.Index(cmd, "printf '%s\\n' ")
		rest := cmd[i+len("printf '%s\\n' "):]
		content := rest[:strings.Index(rest, " > ")]
		files[LockPath] = strings.ReplaceAll(strings.Trim(content, "'"), `'\''`, "'")
		return ok("natsops:locked\n" + files[StatePath])
	case strings.Contains(cmd, "grep -q") && strings.Contains(cmd, LockPath):
		if strings.HasPrefix(cmd, "rm -f "+StatePath) {
			delete(files, StatePath)
		}
		// unlock if ours
		for _, f := range strings.Fields(cmd) {
			if strings.Contains(f, `"id":"`) {
				id := strings.Trim(f, `'`)
				if strings.Contains(files[LockPath], id) {
					delete(files, LockPath)
				}
			}
		}
		return ok("")
	case strings.Contains(cmd, "natsops:changed") && strings.Contains(cmd, StatePath):
		files[StatePath] = string(opts.Stdin)
		return ok("natsops:changed\n")
	case strings.HasPrefix(cmd, "systemctl disable"):
		w.steps = append(w.steps, h.name+":disable")
		return ok("")
	case strings.HasPrefix(cmd, "journalctl"):
		return ok("[ERR] nats-server: bad config line 3\n")
	}
	return &remote.Result{ExitCode: 99, Stderr: []byte("fake: unknown command " + cmd)}, nil
}

// touched reports commands other than lock/state bookkeeping on node.
func (w *world) touched(node string) []string {
	var out []string
	for _, c := range w.cmds[node] {
		if strings.Contains(c, "SIGUSR2") || strings.Contains(c, "systemctl st") {
			out = append(out, c)
		}
	}
	return out
}

func setup(t *testing.T, w *world, opts Options, only ...string) (Config, *[]Event) {
	t.Helper()
	return setupInventory(t, w, testInventory, opts, only...)
}

func setupInventory(t *testing.T, w *world, src string, opts Options, only ...string) (Config, *[]Event) {
	t.Helper()
	inv, err := cluster.Parse("inv.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	nodes := inv.Nodes
	if len(only) > 0 {
		if nodes, err = inv.Select(only); err != nil {
			t.Fatal(err)
		}
	}
	var events []Event
	if opts.NodeTimeout == 0 {
		opts.NodeTimeout = time.Second
	}
	if opts.Owner == "" {
		opts.Owner = "me@here"
	}
	return Config{
		Inventory: inv, Nodes: nodes,
		Connect: func(ctx context.Context, n *cluster.Node) (remote.Host, error) {
			return &fakeHost{w: w, name: n.Name}, nil
		},
		Monitor: w,
		URL:     func(n *cluster.Node) string { return "fake://" + n.Name },
		Clock:   w,
		Events:  func(e Event) { events = append(events, e) },
		Options: opts,
	}, &events
}

func TestRollingOrderLeaderLast(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	cfg, events := setup(t, w, Options{})
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "n2:stop n2:start n3:stop n3:start n1:stop n1:start"
	if got := strings.Join(w.steps, " "); got != want {
		t.Errorf("steps %s, want %s", got, want)
	}
	if strings.Join(rep.Done, ",") != "n2,n3,n1" {
		t.Errorf("done %v", rep.Done)
	}
	if w.maxDown != 1 {
		t.Errorf("max nodes down at once: %d", w.maxDown)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if _, ok := w.files[n][LockPath]; ok {
			t.Errorf("%s: lock left", n)
		}
		if _, ok := w.files[n][StatePath]; ok {
			t.Errorf("%s: state left", n)
		}
	}
	// Every node has stop, exit, start and ready events with timings.
	seen := map[string]bool{}
	for _, e := range *events {
		seen[e.Node+"/"+e.Step+"/"+e.Result] = true
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		for _, s := range []string{StepStop, StepExit, StepStart, StepReady} {
			if !seen[n+"/"+s+"/ok"] {
				t.Errorf("no %s %s ok event", n, s)
			}
		}
	}
}

func TestStopsAtFailingNode(t *testing.T) {
	for _, kind := range []string{"start-crash", "start-error"} {
		t.Run(kind, func(t *testing.T) {
			w := newWorld()
			w.leader = "n3"
			w.failNext["n2"] = kind
			cfg, _ := setup(t, w, Options{})
			rep, err := Run(context.Background(), cfg)
			var re *Error
			if !errors.As(err, &re) || re.Kind != KindNode || re.Node != "n2" {
				t.Fatalf("err %v, want a node error on n2", err)
			}
			if !strings.Contains(re.Logs, "bad config line 3") {
				t.Errorf("logs %q", re.Logs)
			}
			if !strings.Contains(err.Error(), "later nodes were not touched") {
				t.Errorf("message: %v", err)
			}
			if got := w.touched("n3"); len(got) > 0 {
				t.Errorf("n3 touched after n2 failed: %v", got)
			}
			if strings.Join(rep.Done, ",") != "n1" || strings.Join(rep.NotDone, ",") != "n3" {
				t.Errorf("done %v not done %v", rep.Done, rep.NotDone)
			}
			if _, ok := w.files["n1"][LockPath]; ok {
				t.Error("lock not released after failure")
			}
			if _, ok := w.files["n1"][StatePath]; !ok {
				t.Error("state not kept for resume")
			}
		})
	}
}

// A server that dies right after its start is noticed by checking its
// process on the host, not at the node timeout.
func TestDeadAtStartFailsFast(t *testing.T) {
	w := newWorld()
	w.leader = "n3"
	w.failNext["n2"] = "start-crash"
	// n1 goes first: its soak is not what this measures.
	cfg, _ := setup(t, w, Options{NodeTimeout: 2 * time.Minute, HealthyFor: 100 * time.Millisecond})
	begin := w.Now()
	rep, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Node != "n2" || re.Step != StepReady {
		t.Fatalf("err %v, want n2's ready step to fail", err)
	}
	if !strings.Contains(err.Error(), "nats-server on n2 exited after it was started: systemd reports the unit failed") {
		t.Errorf("message: %v", err)
	}
	if took := w.Now().Sub(begin); took > 5*time.Second {
		t.Errorf("noticed after %s (node timeout 2m): want within a few alive checks", took)
	}
	if got := w.aliveChecks["n2"]; got != deadReadings {
		t.Errorf("%d alive checks on n2, want %d (one per %s until %d say gone)", got, deadReadings, aliveEvery, deadReadings)
	}
	if got := w.touched("n3"); len(got) > 0 {
		t.Errorf("n3 touched: %v", got)
	}
	if strings.Join(rep.NotDone, ",") != "n3" {
		t.Errorf("not done %v", rep.NotDone)
	}
}

// A peer that goes down while a node comes back stops the rollout at once,
// naming the peer, and no further node is stopped.
func TestPeerDiesDuringWait(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	w.killOnStart["n2"] = "n3"
	cfg, _ := setup(t, w, Options{NodeTimeout: 2 * time.Minute})
	begin := w.Now()
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Node != "n2" {
		t.Fatalf("err %v, want the rollout stopped at n2", err)
	}
	if !strings.Contains(err.Error(), "n3 went down while n2 was coming back: systemd reports the unit failed") {
		t.Errorf("message: %v", err)
	}
	if took := w.Now().Sub(begin); took > 5*time.Second {
		t.Errorf("noticed after %s", took)
	}
	for _, n := range []string{"n1", "n3"} {
		if got := w.touched(n); len(got) > 0 {
			t.Errorf("%s touched: %v", n, got)
		}
	}
	if w.aliveChecks["n1"] != 0 {
		t.Errorf("n1 (serving) checked %d times", w.aliveChecks["n1"])
	}
}

// A replica a moment behind at preflight (under traffic) is waited for,
// not refused; the wait is said.
func TestPreflightSettles(t *testing.T) {
	w := newWorld()
	w.lagging["n2"] = 5
	cfg, events := setup(t, w, Options{})
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Done) != 3 {
		t.Errorf("done %v", rep.Done)
	}
	waited := false
	for _, e := range *events {
		if e.Step == StepPreflight && e.Result == ResultWaiting && strings.Contains(e.Detail, "is not current") && strings.Contains(e.Detail, "waiting up to 10s") {
			waited = true
		}
	}
	if !waited {
		t.Errorf("no waiting event: %+v", *events)
	}
}

func TestPreflightRefuses(t *testing.T) {
	w := newWorld()
	w.running["n3"] = false
	cfg, _ := setup(t, w, Options{})
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindPreflight {
		t.Fatalf("err %v, want preflight refusal", err)
	}
	msg := err.Error()
	for _, want := range []string{"n3: monitoring endpoint fake://n3 does not answer", "n1: no route to n3", "--force"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if got := w.touched(n); len(got) > 0 {
			t.Errorf("%s: commands run although preflight refused: %v", n, got)
		}
		if _, ok := w.files[n][LockPath]; ok {
			t.Errorf("%s: lock kept after the refusal", n)
		}
	}
}

func TestForceOneDownNode(t *testing.T) {
	w := newWorld()
	w.running["n3"] = false
	cfg, events := setup(t, w, Options{Force: true}, "n3")
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Done, ",") != "n3" || !w.running["n3"] {
		t.Errorf("done %v, n3 running %v", rep.Done, w.running["n3"])
	}
	if len(w.touched("n1"))+len(w.touched("n2")) > 0 {
		t.Error("other nodes touched")
	}
	warned := false
	for _, e := range *events {
		if e.Step == StepPreflight && e.Result == ResultWarning && strings.Contains(e.Detail, "skipped preflight") {
			warned = true
		}
	}
	if !warned {
		t.Error("--force did not say what it skipped")
	}
}

func TestForceNeverTwoDown(t *testing.T) {
	w := newWorld()
	w.running["n3"] = false
	cfg, _ := setup(t, w, Options{Force: true}, "n1")
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "two nodes down") {
		t.Fatalf("err %v, want a refusal to take two nodes down", err)
	}
	if len(w.touched("n1")) > 0 {
		t.Error("n1 stopped while n3 was down")
	}
	// All nodes with --force: the down node goes first, then the rest.
	w2 := newWorld()
	w2.running["n2"] = false
	cfg, _ = setup(t, w2, Options{Force: true})
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w2.steps, " "); !strings.HasPrefix(got, "n2:start ") || w2.maxDown != 1 {
		t.Errorf("steps %s, max down %d", got, w2.maxDown)
	}
}

func TestLockHeld(t *testing.T) {
	w := newWorld()
	w.files["n2"][LockPath] = fmt.Sprintf(`{"id":"abc","owner":"bob@ops1","pid":77,"started":%q}`, w.now.Add(-time.Minute).Format(time.RFC3339))
	cfg, _ := setup(t, w, Options{})
	_, err := Run(context.Background(), cfg)
	var held *LockHeldError
	if !errors.As(err, &held) || held.Stale || held.Node != "n2" || held.Holder.Owner != "bob@ops1" {
		t.Fatalf("err %v, want lock held by bob@ops1 on n2", err)
	}
	if !strings.Contains(err.Error(), "bob@ops1 (pid 77") {
		t.Errorf("message: %v", err)
	}
	if _, ok := w.files["n1"][LockPath]; ok {
		t.Error("n1's lock (taken before n2 refused) not released")
	}
	if w.files["n2"][LockPath] == "" {
		t.Error("the holder's lock was removed")
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if len(w.touched(n)) > 0 {
			t.Errorf("%s touched", n)
		}
	}
}

func TestLockStaleAndBreak(t *testing.T) {
	w := newWorld()
	w.files["n3"][LockPath] = `{"id":"old","owner":"me@here","pid":4242,"started":"2025-12-31T00:00:00Z"}`
	cfg, _ := setup(t, w, Options{})
	cfg.Command = "restart"
	_, err := Run(context.Background(), cfg)
	var held *LockHeldError
	if !errors.As(err, &held) || !held.Stale || !strings.Contains(err.Error(), "--break-lock") || !strings.Contains(err.Error(), "me@here") {
		t.Fatalf("err %v, want a stale lock naming its owner and --break-lock", err)
	}
	cfg, _ = setup(t, w, Options{BreakLock: true})
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if w.restarts != 3 {
		t.Errorf("%d restarts after --break-lock", w.restarts)
	}
}

func TestResumeSkipsRestarted(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	w.failNext["n3"] = "start-error"
	cfg, _ := setup(t, w, Options{})
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("want failure at n3")
	}
	// n3 is down now (its start failed); fix it and rerun with --force.
	delete(w.failNext, "n3")
	w.steps = nil
	cfg, events := setup(t, w, Options{Force: true})
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Skipped, ",") != "n2" || strings.Join(rep.Done, ",") != "n3,n1" {
		t.Errorf("skipped %v done %v, want n2 skipped and n3, n1 done", rep.Skipped, rep.Done)
	}
	resumed := false
	for _, e := range *events {
		if e.Step == StepResume && e.Result == ResultOK {
			resumed = true
		}
	}
	if !resumed {
		t.Error("no resume event")
	}
	if _, ok := w.files["n1"][StatePath]; ok {
		t.Error("state left after the resumed rollout finished")
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	w := newWorld()
	cfg, events := setup(t, w, Options{DryRun: true})
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if len(w.cmds[n]) > 0 {
			t.Errorf("%s: dry run ran %v", n, w.cmds[n])
		}
	}
	if strings.Join(rep.Order, ",") != "n2,n3,n1" {
		t.Errorf("order %v", rep.Order)
	}
	planned := 0
	for _, e := range *events {
		if e.Result == ResultPlanned {
			planned++
			if e.Step == StepStop && !strings.Contains(e.Detail, "systemctl kill -s SIGUSR2 --kill-who=main nats-server") {
				t.Errorf("planned stop %q", e.Detail)
			}
		}
	}
	if planned != 15 {
		t.Errorf("%d planned events, want 5 per node (the JetStream check, stop, exit, start, ready)", planned)
	}
}

func TestInterruptBetweenNodes(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, _ := setup(t, w, Options{})
	inner := cfg.Events
	cfg.Events = func(e Event) {
		inner(e)
		if e.Node == "n2" && e.Step == StepSteady && e.Result == ResultOK {
			cancel()
		}
	}
	rep, err := Run(ctx, cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindInterrupted {
		t.Fatalf("err %v, want interrupted", err)
	}
	if strings.Join(rep.Done, ",") != "n2" || strings.Join(rep.NotDone, ",") != "n3,n1" {
		t.Errorf("done %v not done %v", rep.Done, rep.NotDone)
	}
	if w.down() != 0 {
		t.Error("a node left down")
	}
	if _, ok := w.files["n1"][LockPath]; ok {
		t.Error("lock kept after Ctrl-C")
	}
}

// cancellingMonitor cancels the rollout's context on its first reading
// once armed, and, like the real client, reads nothing after that.
type cancellingMonitor struct {
	w      *world
	mu     sync.Mutex
	armed  bool
	cancel context.CancelFunc
}

func (m *cancellingMonitor) Snapshot(ctx context.Context, url string) *monitor.Snapshot {
	m.mu.Lock()
	if m.armed {
		m.armed = false
		m.cancel()
	}
	m.mu.Unlock()
	if ctx.Err() != nil {
		return &monitor.Snapshot{URL: url, Errs: map[string]error{"varz": ctx.Err()}}
	}
	return m.w.Snapshot(ctx, url)
}

// Ctrl-C while the next node's readings are taken: the failed readings
// are not taken for nodes down; the rollout stops as interrupted with
// that node untouched (found on the testbed: it said "refusing to stop n2
// while n1, n3 are down").
func TestInterruptDuringNextNodeReadings(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, _ := setup(t, w, Options{})
	m := &cancellingMonitor{w: w, cancel: cancel}
	cfg.Monitor = m
	inner := cfg.Events
	cfg.Events = func(e Event) {
		inner(e)
		if e.Node == "n2" && e.Step == StepSteady && e.Result == ResultOK {
			m.mu.Lock()
			m.armed = true
			m.mu.Unlock()
		}
	}
	rep, err := Run(ctx, cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindInterrupted || re.Node != "n3" {
		t.Fatalf("err %v, want interrupted before n3", err)
	}
	if strings.Join(rep.Done, ",") != "n2" || strings.Join(rep.NotDone, ",") != "n3,n1" {
		t.Errorf("done %v not done %v", rep.Done, rep.NotDone)
	}
	if got := w.touched("n3"); len(got) > 0 {
		t.Errorf("n3 touched: %v", got)
	}
}
