package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func bootstrapSetup(t *testing.T, w *world, conf map[string]string) (Config, *[]Event, map[string]*fakeAction) {
	t.Helper()
	cfg, events, acts := deploySetup(t, w, Options{Bootstrap: true, NodeTimeout: 5 * time.Second}, Restart, conf)
	return cfg, events, acts
}

// A bootstrap installs every node first, then starts them all at once
// (three down together is the point: no quorum exists yet), then waits
// once for the whole cluster.
func TestBootstrapInstallsAllThenStartsAll(t *testing.T) {
	w := newWorld()
	cfg, events, _ := bootstrapSetup(t, w, nil)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	steps := strings.Join(w.steps, " ")
	lastInstall := strings.LastIndex(steps, ":install")
	firstStop := strings.Index(steps, ":stop")
	if lastInstall < 0 || firstStop < lastInstall {
		t.Errorf("steps %s: want every install before any stop", steps)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if w.loaded[n] != "v2" || rep.Applied[n] != Restart {
			t.Errorf("%s: loaded %q applied %q", n, w.loaded[n], rep.Applied[n])
		}
	}
	if len(rep.Done) != 3 || !hasEvent(*events, "", StepReady, ResultOK) {
		t.Errorf("done %v", rep.Done)
	}
	if _, ok := w.files["n1"][StatePath]; ok {
		t.Error("state left")
	}
}

// An install that fails on one node puts back the others: nothing starts.
func TestBootstrapInstallIsAllOrNothing(t *testing.T) {
	w := newWorld()
	cfg, _, acts := bootstrapSetup(t, w, nil)
	acts["n3"].installErr = errors.New("n3: install /etc/nats-server.conf: exit 1: unknown field")
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Node != "n3" || re.Step != StepInstall || !strings.Contains(err.Error(), "nothing was started") {
		t.Fatalf("err %v", err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if w.conf[n] != "v1" || len(w.touched(n)) > 0 {
			t.Errorf("%s: conf %q touched %v", n, w.conf[n], w.touched(n))
		}
	}
}

// A node that cannot start with its new config fails the bootstrap fast,
// and every node is put back as it was: running ones restarted with
// their previous config, stopped ones stopped.
func TestBootstrapFailureRestoresEveryNode(t *testing.T) {
	w := newWorld()
	w.running["n3"] = false // provisioned, never started
	cfg, _, _ := bootstrapSetup(t, w, map[string]string{"n2": "v2-cannot-start"})
	begin := w.Now()
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Step != StepReady || !strings.Contains(err.Error(), "nats-server on n2 exited after it was started") {
		t.Fatalf("err %v", err)
	}
	if took := w.Now().Sub(begin); took > 5*time.Second {
		t.Errorf("noticed after %s", took)
	}
	if !strings.Contains(re.RolledBack, "n1, n2 run them again") || !strings.Contains(re.RolledBack, "n3 stopped, as before") {
		t.Errorf("rolled back %q (%v)", re.RolledBack, re.RollbackErr)
	}
	for _, n := range []string{"n1", "n2"} {
		if w.conf[n] != "v1" || w.loaded[n] != "v1" || !w.running[n] {
			t.Errorf("%s: conf %q loaded %q running %v", n, w.conf[n], w.loaded[n], w.running[n])
		}
	}
	if w.conf["n3"] != "v1" || w.running["n3"] {
		t.Errorf("n3: conf %q running %v, want v1 and stopped", w.conf["n3"], w.running["n3"])
	}
}

// Every node takes part: a bootstrap of part of the cluster is refused.
func TestBootstrapNeedsEveryNode(t *testing.T) {
	w := newWorld()
	cfg, _, acts := bootstrapSetup(t, w, nil)
	delete(cfg.Actions, "n3")
	cfg.Nodes = cfg.Nodes[:2]
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "n3 is not part of this one") {
		t.Fatalf("err %v", err)
	}
	for n, a := range acts {
		if a.installed {
			t.Errorf("%s installed", n)
		}
	}
}

// Scale-out: n4 is new. Preflight judges the cluster without it, the
// members reload (their new route to n4) first, then n4 starts, and the
// rollout waits until the members and the meta leader have it.
func TestJoiningNodeGoesLast(t *testing.T) {
	w := newWorld()
	w.leader = "n2"
	w.running["n4"], w.conf["n4"], w.files["n4"] = false, "", map[string]string{}
	cfg, _ := setupInventory(t, w, testInventory+"\n[[node]]\nname = \"n4\"\nhost = \"10.0.0.4\"\n", Options{})
	cfg.Command, cfg.Joining = "deploy", []string{"n4"}
	cfg.Actions = map[string]Action{}
	for _, n := range cfg.Nodes {
		k := Reload
		if n.Name == "n4" {
			k = Restart
		}
		cfg.Actions[n.Name] = &fakeAction{w: w, node: n.Name, kind: k, conf: "v2"}
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rep.Order, ","); got != "n1,n3,n2,n4" {
		t.Errorf("order %s, want the members (leader last) then n4", got)
	}
	if !w.running["n4"] || w.loaded["n4"] != "v2" || w.reloads["n1"] != 1 {
		t.Errorf("n4 running %v loaded %q; n1 reloads %d", w.running["n4"], w.loaded["n4"], w.reloads["n1"])
	}
	// Without Joining, the new node's absence is a sick cluster.
	w2 := newWorld()
	w2.running["n4"], w2.files["n4"] = false, map[string]string{}
	cfg2, _ := setupInventory(t, w2, testInventory+"\n[[node]]\nname = \"n4\"\nhost = \"10.0.0.4\"\n", Options{Settle: time.Second})
	_, err = Run(context.Background(), cfg2)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindPreflight {
		t.Fatalf("without Joining: %v, want a preflight refusal", err)
	}
}

// leavingAction is a removed node's action: Leave takes it out of the
// fake meta group.
type leavingAction struct {
	fakeAction
	leaveErr error
}

func (a *leavingAction) Leave(ctx context.Context) error {
	if a.leaveErr != nil {
		return a.leaveErr
	}
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	a.w.names = slices.DeleteFunc(a.w.names, func(n string) bool { return n == a.node })
	a.w.steps = append(a.w.steps, a.node+":leave")
	return nil
}

// Scale-in: n4 leaves first (stopped, disabled, peer-removed, the rest
// healthy without it), then the members reload without its route.
func TestRemoveNodeFirstThenReloads(t *testing.T) {
	w := newWorld()
	w.add("n4")
	w.leader = "n2"
	cfg, _ := setupInventory(t, w, testInventory+"\n[[node]]\nname = \"n4\"\nhost = \"10.0.0.4\"\n", Options{})
	cfg.Command = "deploy"
	cfg.Actions = map[string]Action{}
	for _, n := range cfg.Nodes {
		if n.Name == "n4" {
			cfg.Actions[n.Name] = &leavingAction{fakeAction: fakeAction{w: w, node: n.Name, kind: Remove}}
			continue
		}
		cfg.Actions[n.Name] = &fakeAction{w: w, node: n.Name, kind: Reload, conf: "v2"}
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.steps, " "); !strings.HasPrefix(got, "n4:stop n4:disable n4:leave ") {
		t.Errorf("steps %s, want n4 stopped, disabled and peer-removed first", got)
	}
	if w.running["n4"] || rep.Applied["n4"] != Remove || w.reloads["n1"] != 1 {
		t.Errorf("n4 running %v applied %q; n1 reloads %d", w.running["n4"], rep.Applied["n4"], w.reloads["n1"])
	}
}

// A removal that would cost the meta group its quorum stops nothing; a
// failed peer removal says where the node stands.
func TestRemoveRefusals(t *testing.T) {
	w := newWorld()
	w.running["n3"] = false // already one peer offline in a group of 3
	cfg, _ := setup(t, w, Options{Force: true}, "n2")
	cfg.Command = "deploy"
	cfg.Actions = map[string]Action{"n2": &leavingAction{fakeAction: fakeAction{w: w, node: "n2", kind: Remove}}}
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "below its quorum of 2: nothing was stopped") {
		t.Fatalf("err %v", err)
	}
	if !w.running["n2"] {
		t.Error("n2 stopped")
	}

	w2 := newWorld()
	cfg, _ = setup(t, w2, Options{}, "n3")
	cfg.Command = "deploy"
	cfg.Actions = map[string]Action{"n3": &leavingAction{fakeAction: fakeAction{w: w2, node: "n3", kind: Remove}, leaveErr: errors.New("JetStream API: no responders")}}
	_, err = Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "n3 is stopped and disabled, but its removal from the JetStream meta group failed: JetStream API: no responders") {
		t.Fatalf("err %v", err)
	}
}
