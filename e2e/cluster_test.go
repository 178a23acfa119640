//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/testbed"
)

// clusterConf is a plain, hand-written nats-server config (no natsops
// rendering): the testbed proves nats-server clusters on these hosts, so
// later natsops tests can compare against it.
func clusterConf(node testbed.Node) string {
	var routes []string
	for _, n := range tb.Nodes {
		routes = append(routes, fmt.Sprintf("    nats-route://%s:6222", n.Host))
	}
	return fmt.Sprintf(`# natsops e2e: hand-written cluster config for %[1]s
server_name: %[1]s
port: 4222
http_port: 8222
# Short pings so a cut-off peer is noticed in seconds, not minutes.
ping_interval: "2s"
ping_max: 2

jetstream {
  store_dir: "/var/lib/nats/jetstream"
}

cluster {
  name: testbed
  port: 6222
  routes: [
%[2]s
  ]
}
`, node.Name, strings.Join(routes, "\n"))
}

// ensureCluster makes every node run the hand-written cluster config
// (the testbed's own check that nats-server clusters on these hosts, and
// the starting state of the fault tests), whatever earlier tests left:
// when a node has another config, every server is stopped first, each
// gets the config, and all start together; then full routes and /healthz
// are awaited.
func ensureCluster(t *testing.T) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	same := true
	for _, n := range tb.Nodes {
		out, err := tb.Exec(c, n.Name, "cat /etc/nats-server.conf")
		if err != nil || strings.TrimSpace(out) != strings.TrimSpace(clusterConf(n)) {
			same = false
		}
	}
	if !same {
		for _, n := range tb.Nodes {
			if _, err := tb.Exec(c, n.Name, "systemctl stop nats-server"); err != nil {
				t.Fatalf("%s: %v", n.Name, err)
			}
		}
		for _, n := range tb.Nodes {
			cmd := "sudo -n tee /etc/nats-server.conf >/dev/null && sudo -n /usr/sbin/nats-server -t -c /etc/nats-server.conf && sudo -n systemctl start nats-server"
			if out, err := tb.RunInput(c, n.Name, testbed.User, cmd, []byte(clusterConf(n))); err != nil {
				t.Fatalf("%s: configure cluster: %v: %s", n.Name, err, out)
			}
		}
	}
	if err := waitCluster(c, names(), 90*time.Second); err != nil {
		t.Fatal(err)
	}
}

// routePeers returns the distinct peers node has routes to: remote_name when
// the server reports it, otherwise remote_id mapped to a name through ids.
// (num_routes counts pooled connections, not peers.)
func routePeers(c context.Context, node string, ids map[string]string) ([]string, error) {
	code, body, err := tb.HTTPGet(c, node, "/routez")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("%s /routez: %d", node, code)
	}
	var rz struct {
		Routes []struct {
			RemoteID   string `json:"remote_id"`
			RemoteName string `json:"remote_name"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(body, &rz); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, r := range rz.Routes {
		name := r.RemoteName
		if name == "" {
			name = ids[r.RemoteID]
		}
		if name == "" {
			name = "id:" + r.RemoteID
		}
		set[name] = true
	}
	var peers []string
	for p := range set {
		peers = append(peers, p)
	}
	sort.Strings(peers)
	return peers, nil
}

// serverIDs maps each reachable node's server_id (from /varz) to its name.
func serverIDs(c context.Context, nodes []string) map[string]string {
	ids := map[string]string{}
	for _, n := range nodes {
		code, body, err := tb.HTTPGet(c, n, "/varz")
		if err != nil || code != 200 {
			continue
		}
		var v struct {
			ID string `json:"server_id"`
		}
		if json.Unmarshal(body, &v) == nil {
			ids[v.ID] = n
		}
	}
	return ids
}

// waitCluster polls until every node in nodes answers /healthz 200 and has
// routes to exactly the other nodes in nodes.
func waitCluster(c context.Context, nodes []string, timeout time.Duration) error {
	return waitRoutes(c, nodes, timeout, true)
}

// waitClusterAtLeast is waitCluster allowing extra routes to nodes outside
// nodes (a peer that vanished without closing its connections).
func waitClusterAtLeast(c context.Context, nodes []string, timeout time.Duration) error {
	return waitRoutes(c, nodes, timeout, false)
}

func waitRoutes(c context.Context, nodes []string, timeout time.Duration, exact bool) error {
	return testbed.Poll(c, timeout, func() error {
		ids := serverIDs(c, nodes)
		for _, n := range nodes {
			var want []string
			for _, p := range nodes {
				if p != n {
					want = append(want, p)
				}
			}
			sort.Strings(want)
			got, err := routePeers(c, n, ids)
			if err != nil {
				return err
			}
			if !exact {
				in := map[string]bool{}
				for _, p := range nodes {
					in[p] = true
				}
				var kept []string
				for _, p := range got {
					if in[p] {
						kept = append(kept, p)
					}
				}
				got = kept
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Errorf("%s routes to %v, want %v", n, got, want)
			}
			code, body, err := tb.HTTPGet(c, n, "/healthz")
			if err != nil {
				return err
			}
			if code != 200 {
				return fmt.Errorf("%s /healthz %d %s", n, code, strings.TrimSpace(string(body)))
			}
		}
		return nil
	})
}

// A cluster configured by a plain config file: every node has routes to
// every peer (distinct remote names) and JetStream is healthy.
func TestCluster(t *testing.T) {
	ensureCluster(t)
	c := ctx(t, 30*time.Second)
	ids := serverIDs(c, names())
	if len(ids) != len(tb.Nodes) {
		t.Fatalf("server ids %v, want %d distinct", ids, len(tb.Nodes))
	}
	for _, n := range tb.Nodes {
		peers, err := routePeers(c, n.Name, ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) != len(tb.Nodes)-1 {
			t.Errorf("%s: route peers %v, want the %d others", n.Name, peers, len(tb.Nodes)-1)
		}
		t.Logf("%s routes to %v", n.Name, peers)
	}
}
