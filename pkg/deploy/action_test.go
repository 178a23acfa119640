package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// host runs commands in a real local shell, except systemctl
// daemon-reload, which it records and fails when told to.
type host struct {
	remote.Local
	reloads    int
	failReload bool
}

func (h *host) Run(ctx context.Context, cmd string, opts remote.RunOptions) (*remote.Result, error) {
	if cmd == service.DaemonReload {
		h.reloads++
		if h.failReload {
			return &remote.Result{ExitCode: 1, Stderr: []byte("Failed to reload daemon: Access denied")}, nil
		}
		return &remote.Result{}, nil
	}
	return h.Local.Run(ctx, cmd, opts)
}

// fixture is a local node whose service.binary is a stand-in nats-server:
// --version prints 2.15.2, -t refuses a config that says "bad".
func fixture(t *testing.T) (*cluster.Node, string, *host) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "nats-server")
	script := "#!/bin/sh\ncase \"$1\" in --version) echo 'nats-server: v2.15.2';; -t) if grep -q bad \"$3\"; then echo \"nats-server: $3:1:1: unknown field\" >&2; exit 1; fi;; esac\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	inv := testinv.MustParse(t, fmt.Sprintf("[service]\nmanager = \"pidfile\"\nbinary = %q\nconfig_path = %q\n[server]\npid_file = %q\n[[node]]\nname = \"a\"\nhost = \"127.0.0.1\"\nconnection = \"local\"\n", bin, filepath.Join(dir, "nats.conf"), filepath.Join(dir, "nats.pid")))
	return inv.Nodes[0], dir, &host{Local: remote.Local{NodeName: "a", NoSudo: true}}
}

type varzMonitor struct{ v *monitor.Varz }

func (m varzMonitor) Snapshot(ctx context.Context, url string) *monitor.Snapshot {
	return &monitor.Snapshot{URL: url, Varz: m.v, Errs: map[string]error{}}
}

func observe(t *testing.T, h remote.Host, d Desired) Observed {
	t.Helper()
	o, err := Observe(context.Background(), h, varzMonitor{&monitor.Varz{Version: "2.15.2"}}, "x", d)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "(absent)"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Observe, Check, Install and Restore through a real shell: the plan's
// view is confirmed under the lock, the new config is validated by the
// node's own binary and swapped in, and Restore puts the old one back.
func TestActionInstallRestore(t *testing.T) {
	n, _, h := fixture(t)
	ctx := context.Background()
	path := n.Service.ConfigPath
	if err := os.WriteFile(path, []byte("port: 4222\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	d := Desired{Node: n, Config: []byte("port: 4333\n")}
	o := observe(t, h, d)
	if o.Installed != "2.15.2" || string(o.Config.Data) != "port: 4222\n" || o.Config.MTime.IsZero() {
		t.Fatalf("observed %+v", o)
	}
	p := MakePlan(d, o, Options{Restart: RestartAuto})
	a := (&Plan{Nodes: []*NodePlan{p}}).Actions()["a"]
	if err := a.Check(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := a.Install(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path); got != "port: 4333\n" {
		t.Errorf("installed %q", got)
	}
	if err := a.Restore(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path); got != "port: 4222\n" {
		t.Errorf("restored %q", got)
	}
}

// A file changed after the plan read it (another deploy in between) is
// refused by Check, naming the node and the file.
func TestActionCheckSeesAChangedFile(t *testing.T) {
	n, _, h := fixture(t)
	path := n.Service.ConfigPath
	if err := os.WriteFile(path, []byte("port: 4222\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	d := Desired{Node: n, Config: []byte("port: 4333\n")}
	a := (&Plan{Nodes: []*NodePlan{MakePlan(d, observe(t, h, d), Options{Restart: RestartAuto})}}).Actions()["a"]
	if err := os.WriteFile(path, []byte("port: 4444\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	err := a.Check(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "a: "+path+" changed since natsops read it") {
		t.Fatalf("check: %v", err)
	}
	if got := read(t, path); got != "port: 4444\n" {
		t.Errorf("check changed the file: %q", got)
	}
}

// The node's own nats-server -t refusing the config leaves the old file.
func TestActionNodeValidationRefuses(t *testing.T) {
	n, _, h := fixture(t)
	path := n.Service.ConfigPath
	if err := os.WriteFile(path, []byte("port: 4222\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	d := Desired{Node: n, Config: []byte("bad: 1\n")}
	a := (&Plan{Nodes: []*NodePlan{MakePlan(d, observe(t, h, d), Options{Restart: RestartAuto})}}).Actions()["a"]
	err := a.Install(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("install: %v", err)
	}
	if got := read(t, path); got != "port: 4222\n" {
		t.Errorf("file after a refused install: %q", got)
	}
}

// A first deploy whose drop-in systemd will not reload is undone whole:
// no new config, no drop-in left (it used to fail with "cp: cannot stat
// ....natsops-bak" and leave both).
func TestActionFirstDeployUndoneWhole(t *testing.T) {
	n, dir, h := fixture(t)
	h.failReload = true
	unit := filepath.Join(dir, "nats-server.service.d", "91-natsops-exec.conf")
	d := Desired{Node: n, Config: []byte("port: 4222\n"), Units: []File{{Path: unit, Data: []byte("[Service]\nExecStart=\n")}}}
	p := MakePlan(d, observe(t, h, d), Options{Restart: RestartAuto})
	a := (&Plan{Nodes: []*NodePlan{p}}).Actions()["a"]
	err := a.Install(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "Access denied") || !strings.Contains(err.Error(), "the previous config was put back") {
		t.Fatalf("install: %v", err)
	}
	if got := read(t, n.Service.ConfigPath); got != "(absent)" {
		t.Errorf("config left: %q", got)
	}
	if got := read(t, unit); got != "(absent)" {
		t.Errorf("drop-in left: %q", got)
	}
	if h.reloads != 2 {
		t.Errorf("%d daemon-reloads, want one for the new drop-in and one after removing it", h.reloads)
	}
	// And a rollback after a good install removes what a first deploy
	// put in place.
	h.failReload = false
	p = MakePlan(d, observe(t, h, d), Options{Restart: RestartAuto})
	a = (&Plan{Nodes: []*NodePlan{p}}).Actions()["a"]
	if err := a.Install(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if read(t, n.Service.ConfigPath) != "(absent)" || read(t, unit) != "(absent)" {
		t.Error("rollback of a first deploy left files behind")
	}
}

// Both drop-ins through a real shell: the one that differs is written
// (the one in place left alone), systemd reloaded once; a rollback puts
// the replaced one back from its backup and removes the new one.
func TestActionTwoDropIns(t *testing.T) {
	n, dir, h := fixture(t)
	exec := filepath.Join(dir, "nats-server.service.d", "91-natsops-exec.conf")
	contract := filepath.Join(dir, "nats-server.service.d", "92-natsops-service.conf")
	if err := os.MkdirAll(filepath.Dir(exec), 0o755); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]string{exec: "[Service]\nExecStart=\n", contract: "[Service]\nKillSignal=SIGUSR2\nTimeoutStopSec=60\n", n.Service.ConfigPath: "port: 4222\n"} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := Desired{Node: n, Config: []byte("port: 4223\n"), Units: []File{{Path: exec, Data: []byte("[Service]\nExecStart=\n")}, {Path: contract, Data: []byte("[Service]\nKillSignal=SIGUSR2\nTimeoutStopSec=150\n")}}}
	p := MakePlan(d, observe(t, h, d), Options{Restart: RestartAuto})
	if len(p.Units) != 1 || p.Units[0].Path != contract {
		t.Fatalf("plan: units %+v", p.Units)
	}
	a := (&Plan{Nodes: []*NodePlan{p}}).Actions()["a"]
	if err := a.Check(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if err := a.Install(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if got := read(t, contract); !strings.Contains(got, "TimeoutStopSec=150") || h.reloads != 1 {
		t.Errorf("after install: %q, %d reloads", got, h.reloads)
	}
	if err := a.Restore(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if got := read(t, contract); !strings.Contains(got, "TimeoutStopSec=60") || h.reloads != 2 {
		t.Errorf("after restore: %q, %d reloads", got, h.reloads)
	}
	if got := read(t, exec); got != "[Service]\nExecStart=\n" {
		t.Errorf("the drop-in in place was touched: %q", got)
	}
}
