package deploy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/rollout"
)

func TestMakePlan(t *testing.T) {
	inv := testinv.MustParse(t, testinv.Base)
	n := inv.Nodes[0]
	loaded := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	conf := func(extra string) []byte { return []byte("port: 4222\nmax_connections: 100\n" + extra) }
	file := func(data []byte, mtime time.Time) FileState { return FileState{Exists: true, Data: data, MTime: mtime} }
	running := &monitor.Varz{Version: "2.15.2", ConfigLoadTime: loaded}
	unit := &File{Path: "/etc/systemd/system/nats-server.service.d/91-natsops-exec.conf", Data: []byte("[Service]\nExecStart=\nExecStart=/usr/local/bin/nats-server-2.15 -c /etc/nats-server.conf\n")}
	contractPath := "/etc/systemd/system/nats-server.service.d/92-natsops-service.conf"
	contract := func(timeout int, gomemlimit string) File {
		data := fmt.Sprintf("[Service]\nExecStop=\nKillSignal=SIGUSR2\nTimeoutStopSec=%d\n", timeout)
		if gomemlimit != "" {
			data += "Environment=GOMEMLIMIT=" + gomemlimit + "\n"
		}
		return File{Path: contractPath, Data: []byte(data)}
	}
	for _, tc := range []struct {
		name     string
		want     Desired
		have     Observed
		restart  string
		changed  bool
		how      rollout.Kind
		keys     string
		pending  bool
		unknown  bool
		contains string // in the diff, the note or the change
	}{
		{name: "up to date", want: Desired{Config: conf("")}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: running}},
		{name: "reloadable keys reload", want: Desired{Config: []byte("port: 4222\nmax_connections: 200\n")}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Reload, keys: "max_connections", contains: "+max_connections: 200"},
		{name: "comments only: installed, no reload", want: Desired{Config: append([]byte("# generated from b.toml\n"), conf("")...)}, have: Observed{Config: file(append([]byte("# generated from a.toml\n"), conf("")...), loaded), Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Install, contains: "comments only"},
		{name: "a port change restarts", want: Desired{Config: []byte("port: 4333\nmax_connections: 100\n")}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Restart, keys: "port"},
		{name: "no config deployed yet", want: Desired{Config: conf("")}, have: Observed{Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Restart, keys: "(new file)", contains: "--- /dev/null"},
		{name: "installed but not loaded, backup says what differs", want: Desired{Config: conf("")}, have: Observed{Config: file(conf(""), loaded.Add(time.Minute)), Backup: file([]byte("port: 4222\nmax_connections: 50\n"), loaded), Installed: "2.15.2", Varz: running},
			changed: true, pending: true, how: rollout.Reload, keys: "max_connections"},
		{name: "installed but not loaded, no backup", want: Desired{Config: conf("")}, have: Observed{Config: file(conf(""), loaded.Add(time.Minute)), Installed: "2.15.2", Varz: running},
			changed: true, pending: true, how: rollout.Restart, keys: "(whole file)", contains: "never loaded"},
		{name: "within the mtime's second of the load is loaded", want: Desired{Config: conf("")}, have: Observed{Config: file(conf(""), loaded.Add(time.Second)), Installed: "2.15.2", Varz: running}},
		{name: "2.11+: the running digest is another config's: not loaded, whatever the file's time", want: Desired{Config: conf("")}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: &monitor.Varz{Version: "2.15.2", ConfigLoadTime: loaded, ConfigDigest: "sha256:other"}},
			changed: true, pending: true, how: rollout.Restart, keys: "(whole file)"},
		{name: "2.11+: the running digest is the rendered one: loaded, whatever the file's time", want: Desired{Config: conf("")}, have: Observed{Config: file(conf(""), loaded.Add(time.Hour)), Installed: "2.15.2", Varz: &monitor.Varz{Version: "2.15.2", ConfigLoadTime: loaded, ConfigDigest: digestOf(t, conf(""))}}},
		{name: "another binary version is an upgrade: restart", want: Desired{Config: conf("")}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.3", Varz: running},
			changed: true, how: rollout.Restart, keys: "service.binary", contains: "nats-server 2.15.2 runs, nats-server is 2.15.3"},
		{name: "drop-in only, same version: install", want: Desired{Config: conf(""), Units: []File{*unit}}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Install, keys: "ExecStart", contains: "unit updated"},
		{name: "drop-in and upgrade: restart", want: Desired{Config: conf(""), Units: []File{*unit}}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.3", Varz: running},
			changed: true, how: rollout.Restart, keys: "service.binary,ExecStart"},
		{name: "drop-in already in place", want: Desired{Config: conf(""), Units: []File{*unit}}, have: Observed{Config: file(conf(""), loaded), Units: map[string]FileState{unit.Path: file(unit.Data, loaded)}, Installed: "2.15.2", Varz: running}},
		{name: "stop contract, new: installed, no restart", want: Desired{Config: conf(""), Units: []File{contract(150, "")}}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Install, keys: "stop contract", contains: "+KillSignal=SIGUSR2"},
		{name: "stop contract, new TimeoutStopSec: installed, no restart", want: Desired{Config: conf(""), Units: []File{contract(330, "3GiB")}}, have: Observed{Config: file(conf(""), loaded), Units: map[string]FileState{contractPath: file(contract(150, "3GiB").Data, loaded)}, Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Install, keys: "stop contract", contains: "+TimeoutStopSec=330"},
		{name: "stop contract with a reloadable change: reload", want: Desired{Config: []byte("port: 4222\nmax_connections: 200\n"), Units: []File{contract(150, "")}}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Reload, keys: "max_connections,stop contract"},
		{name: "GOMEMLIMIT set: restart (the environment takes at the next start)", want: Desired{Config: conf(""), Units: []File{contract(150, "3GiB")}}, have: Observed{Config: file(conf(""), loaded), Units: map[string]FileState{contractPath: file(contract(150, "").Data, loaded)}, Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Restart, keys: "stop contract,GOMEMLIMIT", contains: "GOMEMLIMIT unset -> 3GiB (Environment= takes effect at the next start)"},
		{name: "GOMEMLIMIT changed", want: Desired{Config: conf(""), Units: []File{contract(150, "4GiB")}}, have: Observed{Config: file(conf(""), loaded), Units: map[string]FileState{contractPath: file(contract(150, "3GiB").Data, loaded)}, Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Restart, contains: "GOMEMLIMIT 3GiB -> 4GiB"},
		{name: "GOMEMLIMIT removed", want: Desired{Config: conf(""), Units: []File{contract(150, "")}}, have: Observed{Config: file(conf(""), loaded), Units: map[string]FileState{contractPath: file(contract(150, "3GiB").Data, loaded)}, Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Restart, contains: "GOMEMLIMIT 3GiB -> unset"},
		{name: "GOMEMLIMIT with --restart never: installed", want: Desired{Config: conf(""), Units: []File{contract(150, "3GiB")}}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: running}, restart: RestartNever,
			changed: true, how: rollout.Install},
		{name: "both drop-ins in place", want: Desired{Config: conf(""), Units: []File{*unit, contract(150, "")}}, have: Observed{Config: file(conf(""), loaded), Units: map[string]FileState{unit.Path: file(unit.Data, loaded), contractPath: file(contract(150, "").Data, loaded)}, Installed: "2.15.2", Varz: running}},
		{name: "ExecStart in place, contract new", want: Desired{Config: conf(""), Units: []File{*unit, contract(150, "")}}, have: Observed{Config: file(conf(""), loaded), Units: map[string]FileState{unit.Path: file(unit.Data, loaded)}, Installed: "2.15.2", Varz: running},
			changed: true, how: rollout.Install, keys: "stop contract"},
		{name: "server down, reloadable diff: started with it", want: Desired{Config: []byte("port: 4222\nmax_connections: 200\n")}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", VarzErr: errors.New("connection refused")},
			changed: true, how: rollout.Restart, keys: "max_connections", unknown: true, contains: "it is started with the new config"},
		{name: "server down, no diff: cannot tell", want: Desired{Config: conf("")}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", VarzErr: errors.New("connection refused")},
			unknown: true},
		{name: "--restart never installs", want: Desired{Config: []byte("port: 4333\n")}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: running}, restart: RestartNever,
			changed: true, how: rollout.Install},
		{name: "--restart always restarts a reloadable change", want: Desired{Config: []byte("port: 4222\nmax_connections: 200\n")}, have: Observed{Config: file(conf(""), loaded), Installed: "2.15.2", Varz: running}, restart: RestartAlways,
			changed: true, how: rollout.Restart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Node = n
			if tc.restart == "" {
				tc.restart = RestartAuto
			}
			p := MakePlan(tc.want, tc.have, Options{Restart: tc.restart})
			if p.Changed != tc.changed || p.How != tc.how || p.Pending != tc.pending || (p.Unknown != "") != tc.unknown {
				t.Fatalf("changed %v how %q pending %v unknown %q; want %v %q %v %v", p.Changed, p.How, p.Pending, p.Unknown, tc.changed, tc.how, tc.pending, tc.unknown)
			}
			if tc.keys != "" && strings.Join(p.Change.Keys, ",") != tc.keys {
				t.Errorf("keys %v, want %s", p.Change.Keys, tc.keys)
			}
			all := p.Diff + p.Note + p.String() + strings.Join(p.Change.RestartReason, ";")
			for _, u := range p.Units {
				all += u.Diff
			}
			if tc.contains != "" && !strings.Contains(all, tc.contains) {
				t.Errorf("want %q in:\n%s", tc.contains, all)
			}
		})
	}
}

// The operation names what the deploy does, so a rollout's resume state
// is only picked up by the same deploy.
func TestOperationDigest(t *testing.T) {
	inv := testinv.MustParse(t, testinv.Base)
	have := Observed{Config: FileState{Exists: true, Data: []byte("port: 4222\n")}, Installed: "2.15.2", Varz: &monitor.Varz{Version: "2.15.2"}}
	plan := func(conf string) *Plan {
		return &Plan{Nodes: []*NodePlan{MakePlan(Desired{Node: inv.Nodes[0], Config: []byte(conf)}, have, Options{Restart: RestartAuto})}}
	}
	a, b := plan("port: 4333\n").Operation(), plan("port: 4334\n").Operation()
	if a == b || a != plan("port: 4333\n").Operation() || !strings.HasPrefix(a, "deploy a:restart:") {
		t.Errorf("operations %q and %q", a, b)
	}
}

// TestDecide: how a deploy meets the cluster, one row per case.
func TestDecide(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	member := func(name string) *monitor.Snapshot {
		s := &monitor.Snapshot{Varz: &monitor.Varz{ServerName: name, ServerID: "ID" + name}, Routez: &monitor.Routez{}, Jsz: &monitor.Jsz{Meta: &monitor.MetaCluster{Leader: "n1"}}, Errs: map[string]error{}}
		return s
	}
	standalone := func(name string) *monitor.Snapshot {
		return &monitor.Snapshot{Varz: &monitor.Varz{ServerName: "ID" + name, ServerID: "ID" + name}, Errs: map[string]error{}}
	}
	plan := func(streams map[string][]string, nodes ...string) *Plan {
		p := &Plan{}
		for _, n := range inv.Nodes {
			if len(nodes) > 0 && !slices.Contains(nodes, n.Name) {
				continue
			}
			o := Observed{Config: FileState{Exists: true, Data: []byte("x\n")}, Installed: "2.15.2", Varz: &monitor.Varz{Version: "2.15.2"}, Streams: streams[n.Name], StoreKB: 42}
			p.Nodes = append(p.Nodes, MakePlan(Desired{Node: n, Config: []byte("x\n")}, o, Options{Restart: RestartAuto}))
		}
		return p
	}
	all := func(f func(string) *monitor.Snapshot) map[string]*monitor.Snapshot {
		return map[string]*monitor.Snapshot{"n1": f("n1"), "n2": f("n2"), "n3": f("n3")}
	}
	for _, tc := range []struct {
		name      string
		plan      *Plan
		snaps     map[string]*monitor.Snapshot
		opts      Options
		bootstrap bool
		joining   string
		refusal   string
	}{
		{"a formed cluster, nothing changed: nothing", plan(nil), all(member), Options{Restart: RestartAuto}, false, "", ""},
		{"Debian's standalone servers: bootstrap every node", plan(nil), all(standalone), Options{Restart: RestartAuto}, true, "", ""},
		{"nothing answers (bare hosts): bootstrap", plan(nil), nil, Options{Restart: RestartAuto}, true, "", ""},
		{"--restart never never bootstraps", plan(nil), all(standalone), Options{Restart: RestartNever}, false, "", ""},
		{"--bootstrap on a formed cluster: refused", plan(nil), all(member), Options{Restart: RestartAuto, Bootstrap: true}, true, "", "--bootstrap restarts every node at once"},
		{"--bootstrap --force on a formed cluster", plan(nil), all(member), Options{Restart: RestartAuto, Bootstrap: true, Force: true}, true, "", ""},
		{"a bootstrap of part of the nodes: refused", plan(nil, "n1", "n2"), all(standalone), Options{Restart: RestartAuto}, true, "", "deploy without --limit"},
		{"a new node of a formed cluster joins", plan(nil), map[string]*monitor.Snapshot{"n1": member("n1"), "n2": member("n2")}, Options{Restart: RestartAuto}, false, "n3", ""},
		{"standalone streams a bootstrap would orphan: refused", plan(map[string][]string{"n2": {"$G/ORDERS"}}), all(standalone), Options{Restart: RestartAuto}, true, "", "n2 holds JetStream data in /var/lib/nats (streams $G/ORDERS; 42 KB)"},
		{"... unless --force", plan(map[string][]string{"n2": {"$G/ORDERS"}}), all(standalone), Options{Restart: RestartAuto, Force: true}, true, "", ""},
		{"a member's own streams are no reason", plan(map[string][]string{"n1": {"$G/ORDERS"}}), all(member), Options{Restart: RestartAuto}, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.plan
			p.Decide(inv, tc.snaps, tc.opts)
			if p.Bootstrap != tc.bootstrap || strings.Join(p.Joining, ",") != tc.joining {
				t.Errorf("bootstrap %v joining %v, want %v %q", p.Bootstrap, p.Joining, tc.bootstrap, tc.joining)
			}
			if (tc.refusal == "") != (p.Refusal == "") || !strings.Contains(p.Refusal, tc.refusal) {
				t.Errorf("refusal %q, want %q", p.Refusal, tc.refusal)
			}
			if p.Bootstrap || tc.joining != "" {
				for _, n := range p.Nodes {
					if (p.Bootstrap || n.Node == tc.joining) && n.How != rollout.Restart {
						t.Errorf("%s: how %q, want a restart", n.Node, n.How)
					}
				}
			}
		})
	}
}

func digestOf(t *testing.T, b []byte) string {
	t.Helper()
	d, err := config.Digest(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A node marked remove = true is out once nothing answers, its unit is
// disabled and inactive, and no meta group lists it; listed still, only
// the peer removal is left to do.
func TestRemovedNodePlan(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	n := inv.Nodes[2]
	gone := Observed{Installed: "2.15.2", VarzErr: errors.New("connection refused"), Enabled: "disabled", Active: "inactive"}
	for _, tc := range []struct {
		name    string
		have    Observed
		snaps   map[string]*monitor.Snapshot
		changed bool
	}{
		{"running: leaves", Observed{Installed: "2.15.2", Varz: &monitor.Varz{Version: "2.15.2"}, Enabled: "enabled", Active: "active"}, nil, true},
		{"stopped but enabled: leaves (it would start at boot)", Observed{Installed: "2.15.2", VarzErr: errors.New("refused"), Enabled: "enabled", Active: "inactive"}, nil, true},
		{"out: nothing to do", gone, map[string]*monitor.Snapshot{"n1": {Jsz: &monitor.Jsz{Meta: &monitor.MetaCluster{Leader: "n1", Replicas: []monitor.MetaReplica{{Name: "n2"}}}}}}, false},
		{"out, but the meta group lists it: the peer removal is left", gone, map[string]*monitor.Snapshot{"n1": {Jsz: &monitor.Jsz{Meta: &monitor.MetaCluster{Leader: "n1", Replicas: []monitor.MetaReplica{{Name: "n2"}, {Name: n.Name, Offline: true}}}}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Plan{Nodes: []*NodePlan{MakePlan(Desired{Node: n, Remove: true}, tc.have, Options{Restart: RestartAuto})}}
			p.Decide(inv.Without(map[string]bool{n.Name: true}), tc.snaps, Options{Restart: RestartAuto, Force: true})
			if got := p.Nodes[0]; got.Changed != tc.changed || (tc.changed && got.How != rollout.Remove) {
				t.Errorf("changed %v how %q (%s), want changed %v", got.Changed, got.How, got.Note, tc.changed)
			}
		})
	}
}

// TestDecideJoinsTheSupercluster: a cluster of a supercluster that never
// formed joins the JetStream meta group that runs in another cluster,
// one node at a time, instead of bootstrapping a group of its own (which
// splits the meta group: seen on the testbed with 2.9.10); with no meta
// group elsewhere it bootstraps as any cluster.
func TestDecideJoinsTheSupercluster(t *testing.T) {
	// The shared estate with JetStream on and a second west node.
	src := testinv.WithNode(testinv.Estate, "west", "w2", "10.0.2.2") + "\n[jetstream]\nenabled = true\nstore_dir = \"/var/lib/nats/js\"\n"
	est, err := cluster.ParseEstate("est.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	west := est.Clusters[1]
	plan := func() *Plan {
		p := &Plan{}
		for _, n := range west.Nodes {
			o := Observed{Config: FileState{Exists: true, Data: []byte("x\n")}, Installed: "2.9.10", Varz: &monitor.Varz{Version: "2.9.10"}}
			p.Nodes = append(p.Nodes, MakePlan(Desired{Node: n, Config: []byte("y\n")}, o, Options{Restart: RestartAuto}))
		}
		return p
	}
	standalone := func(name string) *monitor.Snapshot {
		return &monitor.Snapshot{Varz: &monitor.Varz{ServerName: "ID" + name, ServerID: "ID" + name}, Errs: map[string]error{}}
	}
	member := func(name, leader string) *monitor.Snapshot {
		return &monitor.Snapshot{Varz: &monitor.Varz{ServerName: name, ServerID: "ID" + name}, Routez: &monitor.Routez{}, Jsz: &monitor.Jsz{Meta: &monitor.MetaCluster{Leader: leader}}, Errs: map[string]error{}}
	}
	p := plan()
	p.Decide(west, map[string]*monitor.Snapshot{"w1": standalone("w1"), "w2": standalone("w2"), "e1": member("e1", "e2"), "e2": member("e2", "e2")}, Options{Restart: RestartAuto})
	if p.Bootstrap || p.JoinsMetaLeader != "e2" || strings.Join(p.Joining, ",") != "w1,w2" || p.Refusal != "" {
		t.Errorf("bootstrap %v, joins %q, joining %v, refusal %q: want w1, w2 joining e2's meta group", p.Bootstrap, p.JoinsMetaLeader, p.Joining, p.Refusal)
	}
	for _, n := range p.Nodes {
		if n.How != rollout.Restart {
			t.Errorf("%s: how %q, want a restart", n.Node, n.How)
		}
	}
	p = plan()
	p.Decide(west, map[string]*monitor.Snapshot{"w1": standalone("w1"), "w2": standalone("w2"), "e1": standalone("e1")}, Options{Restart: RestartAuto})
	if !p.Bootstrap || p.JoinsMetaLeader != "" {
		t.Errorf("no meta group elsewhere: bootstrap %v joins %q, want a bootstrap", p.Bootstrap, p.JoinsMetaLeader)
	}
}

// TestAudit: the audit record's plan of a deploy: each changed node, how
// it takes its change and what changes.
func TestAudit(t *testing.T) {
	p := &Plan{Nodes: []*NodePlan{
		{Node: "a", Changed: true, How: rollout.Reload, Change: config.Change{Keys: []string{"max_payload"}}},
		{Node: "b"},
		{Node: "c", Changed: true, How: rollout.Restart, Change: config.Change{Keys: []string{"port"}}, Binary: Versions{Installed: "2.15.2", Running: "2.9.10"}, Units: []*UnitChange{{Path: "/etc/systemd/system/nats-server.service.d/91-natsops-exec.conf"}}},
		{Node: "d", Changed: true, Pending: true},
	}}
	got := p.Audit()
	want := []audit.Planned{
		{Node: "a", Change: "reload", Items: []string{"max_payload"}},
		{Node: "c", Change: "restart", Items: []string{"port", "unit /etc/systemd/system/nats-server.service.d/91-natsops-exec.conf", "nats-server 2.9.10 -> 2.15.2"}},
		{Node: "d", Change: "install"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Audit =\n%+v\nwant\n%+v", got, want)
	}
}

// TestDecideMemberDown: a node the cluster knows that does not answer is
// a member that is down (refused, exit 3 by the command), never a node
// that joins, and its store is never called orphaned; the orphaned-data
// refusal is left for streams no live member holds.
func TestDecideMemberDown(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	live := func(name string, replicas ...monitor.MetaReplica) *monitor.Snapshot {
		return &monitor.Snapshot{Varz: &monitor.Varz{ServerName: name, ServerID: "ID" + name, Version: "2.15.2"}, Routez: &monitor.Routez{}, Jsz: &monitor.Jsz{Meta: &monitor.MetaCluster{Leader: "n1", Replicas: replicas}}, Errs: map[string]error{}}
	}
	plan := func(streams []string) *Plan {
		p := &Plan{}
		for _, n := range inv.Nodes {
			o := Observed{Config: FileState{Exists: true, Data: []byte("x\n")}, Installed: "2.15.2", Varz: &monitor.Varz{Version: "2.15.2"}}
			if n.Name == "n3" {
				o.Varz, o.VarzErr, o.Streams, o.StoreKB = nil, errors.New("connection refused"), streams, 172
			}
			p.Nodes = append(p.Nodes, MakePlan(Desired{Node: n, Config: []byte("y\n")}, o, Options{Restart: RestartAuto}))
		}
		return p
	}
	metaPeer := map[string]*monitor.Snapshot{"n1": live("n1", monitor.MetaReplica{Name: "n2", Current: true}, monitor.MetaReplica{Name: "n3", Offline: true}), "n2": live("n2")}
	notPeer := map[string]*monitor.Snapshot{"n1": live("n1", monitor.MetaReplica{Name: "n2", Current: true}), "n2": live("n2")}
	known := KnownStreams(map[string]*monitor.JSDetail{"n1": {Accounts: []monitor.AccountDetail{{Name: "APP", Streams: []monitor.StreamDetail{{Name: "ORDERS", Cluster: &monitor.ClusterInfo{Leader: "n1", Replicas: []monitor.PeerInfo{{Name: "n2"}, {Name: "n3", Offline: true}}}}}}}}})
	for _, tc := range []struct {
		name    string
		snaps   map[string]*monitor.Snapshot
		known   map[string][]string
		streams []string
		opts    Options
		down    string
		joining string
		refusal []string
		not     []string
	}{
		{name: "a meta peer that does not answer is a member down", snaps: metaPeer, streams: []string{"APP/ORDERS"}, known: known, opts: Options{Restart: RestartAuto},
			down: "n3", refusal: []string{"a member of the cluster is down: n3 (a peer of the JetStream meta group, a replica of streams APP/ORDERS)", "natsops restart --node n3 --force --yes"}, not: []string{"empty the directory", "joins"}},
		{name: "not a meta peer, but a replica of a stream the members hold", snaps: notPeer, streams: []string{"APP/ORDERS"}, known: known, opts: Options{Restart: RestartAuto},
			down: "n3", refusal: []string{"n3 (a replica of streams APP/ORDERS)"}, not: []string{"empty the directory"}},
		{name: "--force starts it with the new config as a member", snaps: metaPeer, streams: []string{"APP/ORDERS"}, known: known, opts: Options{Restart: RestartAuto, Force: true},
			down: "n3"},
		{name: "unknown to the cluster: a new node joins, its unknown streams refused", snaps: notPeer, streams: []string{"APP/OLD"}, known: map[string][]string{"APP/ORDERS": {"n1", "n2"}}, opts: Options{Restart: RestartAuto},
			joining: "n3", refusal: []string{"n3 holds JetStream data in /var/lib/nats (streams APP/OLD; 172 KB) that the cluster it starts into does not know"}},
		{name: "a new node holding only streams the cluster knows: not orphaned", snaps: map[string]*monitor.Snapshot{"n1": live("n1"), "n2": live("n2")}, streams: []string{"APP/ORDERS"},
			known: map[string][]string{"APP/ORDERS": {"n1", "n2"}}, opts: Options{Restart: RestartAuto}, joining: "n3"},
		{name: "streams unreadable on the members: refused as unknown", snaps: notPeer, streams: []string{"APP/ORDERS"}, opts: Options{Restart: RestartAuto},
			joining: "n3", refusal: []string{"(streams APP/ORDERS; 172 KB) that the cluster it starts into does not know"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := plan(tc.streams)
			p.Known(tc.known)
			p.Decide(inv, tc.snaps, tc.opts)
			if got := strings.Join(p.MembersDown, ","); got != tc.down {
				t.Errorf("members down %q, want %q", got, tc.down)
			}
			if got := strings.Join(p.Joining, ","); got != tc.joining {
				t.Errorf("joining %q, want %q", got, tc.joining)
			}
			if len(tc.refusal) == 0 && p.Refusal != "" {
				t.Errorf("refused: %s", p.Refusal)
			}
			for _, want := range tc.refusal {
				if !strings.Contains(p.Refusal, want) {
					t.Errorf("refusal %q\nwant it to contain %q", p.Refusal, want)
				}
			}
			for _, bad := range tc.not {
				if strings.Contains(p.Refusal, bad) {
					t.Errorf("refusal %q contains %q", p.Refusal, bad)
				}
			}
			for _, n := range p.Nodes {
				if n.Node == "n3" && n.How != rollout.Restart {
					t.Errorf("n3: how %q, want a start (restart)", n.How)
				}
			}
		})
	}
}

// TestDecideUnrollable: a cluster rename is refused before any node is
// touched, with the procedure; a bootstrap (the planned outage) takes it.
func TestDecideUnrollable(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	snaps := map[string]*monitor.Snapshot{}
	for _, n := range inv.Nodes {
		snaps[n.Name] = &monitor.Snapshot{Varz: &monitor.Varz{ServerName: n.Name, ServerID: "ID" + n.Name, Version: "2.15.2"}, Routez: &monitor.Routez{}, Jsz: &monitor.Jsz{Meta: &monitor.MetaCluster{Leader: "n1"}}, Errs: map[string]error{}}
	}
	plan := func(opts Options) *Plan {
		p := &Plan{}
		for _, n := range inv.Nodes {
			o := Observed{Config: FileState{Exists: true, Data: []byte("cluster { name: local, port: 6222 }\n")}, Installed: "2.15.2", Varz: &monitor.Varz{Version: "2.15.2"}}
			p.Nodes = append(p.Nodes, MakePlan(Desired{Node: n, Config: []byte("cluster { name: renamed, port: 6222 }\n")}, o, opts))
		}
		p.Decide(inv, snaps, opts)
		return p
	}
	p := plan(Options{Restart: RestartAuto})
	for _, want := range []string{`cluster.name "local" -> "renamed"`, "server/route.go:3109", "natsops deploy --bootstrap --force --yes"} {
		if !strings.Contains(p.Refusal, want) {
			t.Errorf("refusal %q\nwant %q", p.Refusal, want)
		}
	}
	if len(p.Unrollable) != 1 {
		t.Errorf("unrollable %q, want the rename once", p.Unrollable)
	}
	if p = plan(Options{Restart: RestartAuto, Force: true}); p.Refusal == "" {
		t.Error("--force alone rolled a rename node by node")
	}
	if p = plan(Options{Restart: RestartAuto, Bootstrap: true, Force: true}); p.Refusal != "" || !p.Bootstrap {
		t.Errorf("--bootstrap --force: bootstrap %v, refusal %q", p.Bootstrap, p.Refusal)
	}
}

// TestBringBackOneNodePerRestart: with two members down the advice is
// two restarts, each naming one node (restart --node takes one), never
// "--node n2,n3".
func TestBringBackOneNodePerRestart(t *testing.T) {
	if got, want := bringBack([]string{"n2", "n3"}), "`natsops restart --node n2 --force --yes`, then `natsops restart --node n3 --force --yes`"; got != want {
		t.Errorf("bringBack(n2, n3) = %s, want %s", got, want)
	}
	if got, want := bringBack([]string{"n2"}), "`natsops restart --node n2 --force --yes`"; got != want {
		t.Errorf("bringBack(n2) = %s, want %s", got, want)
	}
}
