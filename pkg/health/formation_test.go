package health

import (
	"strings"
	"testing"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/monitor"
)

// TestForm: one row per way a node stands to the cluster.
func TestForm(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	standalone := func(name string) *monitor.Snapshot {
		s := snap(name)
		s.Varz.ServerName = s.Varz.ServerID
		s.Routez.Routes = nil
		s.Jsz = &monitor.Jsz{}
		return s
	}
	alone := func(name string) *monitor.Snapshot {
		s := snap(name)
		s.Routez.Routes = nil
		s.Jsz.Meta.Leader = ""
		return s
	}
	for _, tc := range []struct {
		name    string
		snaps   map[string]*monitor.Snapshot
		formed  bool
		members string
		why     string // in Why()
	}{
		{"a healthy cluster", map[string]*monitor.Snapshot{"n1": snap("n1"), "n2": snap("n2"), "n3": snap("n3")}, true, "n1,n2,n3", "n1, n2, n3 form the cluster"},
		{"Debian's standalone servers: never formed", map[string]*monitor.Snapshot{"n1": standalone("n1"), "n2": standalone("n2"), "n3": standalone("n3")}, false, "", "n1 runs a config without server_name"},
		{"bare hosts: nothing answers", map[string]*monitor.Snapshot{}, false, "", "n3 does not answer on its monitoring port"},
		{"a failed bootstrap left n1 alone with its name", map[string]*monitor.Snapshot{"n1": alone("n1"), "n2": standalone("n2")}, false, "", "n1 runs its server_name but has no route to a peer"},
		{"another server on n2's port", map[string]*monitor.Snapshot{"n2": func() *monitor.Snapshot { s := standalone("n2"); s.Varz.ServerName = "other"; return s }()}, false, "", `n2 runs server "other", not "n2"`},
		{"two members, a new node n3 outside: scale-out", map[string]*monitor.Snapshot{"n1": snap("n1"), "n2": snap("n2")}, true, "n1,n2", "n3 does not answer"},
		{"a meta leader alone makes a member (2.9 routes carry ids only)", map[string]*monitor.Snapshot{"n1": func() *monitor.Snapshot {
			s := snap("n1")
			s.Routez.Routes = []monitor.Route{{RemoteID: "x"}}
			return s
		}()}, true, "n1", ""},
		{"routes to servers outside the inventory are no membership", map[string]*monitor.Snapshot{"n1": func() *monitor.Snapshot {
			s := alone("n1")
			s.Routez.Routes = []monitor.Route{{RemoteName: "stranger"}}
			return s
		}()}, false, "", "no route to a peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Form(inv, tc.snaps)
			if f.Formed() != tc.formed || strings.Join(f.Members, ",") != tc.members {
				t.Errorf("formed %v members %v, want %v %q", f.Formed(), f.Members, tc.formed, tc.members)
			}
			if why := f.Why(); !strings.Contains(why, tc.why) {
				t.Errorf("why %q, want %q in it", why, tc.why)
			}
		})
	}
	// A one-node inventory: its server_name is enough.
	one := testinv.MustParse(t, "[[node]]\nname = \"n1\"\nhost = \"h\"\n")
	if f := Form(one, map[string]*monitor.Snapshot{"n1": alone("n1")}); !f.Formed() {
		t.Errorf("a lone node running its name: %+v", f)
	}
}

// TestQuorumWithout: one row per meta group shape.
func TestQuorumWithout(t *testing.T) {
	group := func(size int, replicas ...monitor.MetaReplica) map[string]*monitor.Snapshot {
		return map[string]*monitor.Snapshot{"n1": {Jsz: &monitor.Jsz{Meta: &monitor.MetaCluster{Leader: "n1", Size: size, Replicas: replicas}}}}
	}
	ok := func(n string) monitor.MetaReplica { return monitor.MetaReplica{Name: n, Current: true} }
	off := func(n string) monitor.MetaReplica { return monitor.MetaReplica{Name: n, Offline: true} }
	for _, tc := range []struct {
		name  string
		snaps map[string]*monitor.Snapshot
		node  string
		want  string // "" = may stop
	}{
		{"4 peers, all up: one may go", group(4, ok("n2"), ok("n3"), ok("n4")), "n4", ""},
		{"3 peers, one already offline: the next may not", group(3, ok("n2"), off("n3")), "n2", "would leave 1 of the JetStream meta group's 3 peers up, below its quorum of 2"},
		{"3 peers, the offline one itself may go", group(3, ok("n2"), off("n3")), "n3", ""},
		{"2 peers: neither may stop", group(2, ok("n2")), "n2", "below its quorum of 2"},
		{"the leader counts itself", group(3, ok("n2"), ok("n3")), "n1", ""},
		{"not in the group", group(3, ok("n2"), ok("n3")), "n9", ""},
		{"no meta leader: nothing to judge", map[string]*monitor.Snapshot{}, "n1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := QuorumWithout(tc.snaps, tc.node)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
