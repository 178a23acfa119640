package testbed

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/tune"
)

// inventory mirrors the natsops inventory schema the testbed writes, so a
// strict decode catches a typo or an unknown key here.
type inventory struct {
	Cluster struct {
		Name string `toml:"name"`
		Port int    `toml:"port"`
	} `toml:"cluster"`
	SSH struct {
		User            string `toml:"user"`
		Port            int    `toml:"port"`
		IdentityFile    string `toml:"identity_file"`
		KnownHosts      string `toml:"known_hosts"`
		HostKeyChecking string `toml:"host_key_checking"`
	} `toml:"ssh"`
	Service struct {
		Manager    string `toml:"manager"`
		Unit       string `toml:"unit"`
		ConfigPath string `toml:"config_path"`
		Binary     string `toml:"binary"`
		User       string `toml:"user"`
	} `toml:"service"`
	Server struct {
		Port     int `toml:"port"`
		HTTPPort int `toml:"http_port"`
	} `toml:"server"`
	JetStream struct {
		Enabled  bool   `toml:"enabled"`
		StoreDir string `toml:"store_dir"`
	} `toml:"jetstream"`
	Tune struct {
		NoFile int64             `toml:"nofile"`
		Sysctl map[string]string `toml:"sysctl"`
	} `toml:"tune"`
	Node []struct {
		Name string `toml:"name"`
		Host string `toml:"host"`
	} `toml:"node"`
}

// kernel is what a testbed machine reports (this project's CI: a modern
// kernel's fs.file-max, the default nr_open, dockerd at 20000).
var kernel = Kernel{FileMax: "9223372036854775807", NrOpen: "1048576", NoFile: 20000}

// TestGeneratedInventoryLoads: natsops itself loads the generated inventory,
// [tune] pins included, and tune would have nothing kernel-wide to write.
func TestGeneratedInventoryLoads(t *testing.T) {
	inv, err := cluster.Parse("inventory.toml", []byte(Inventory(nodes(3), "id_ed25519", "known_hosts", "test", kernel.Tune())))
	if err != nil {
		t.Fatal(err)
	}
	d := tune.DesiredFor(inv, inv.Nodes[0])
	for _, sc := range d.Sysctls {
		if sc.Name == "fs.file-max" && (sc.Value != kernel.FileMax || sc.AtLeast) || sc.Name == "fs.nr_open" && (sc.Value != kernel.NrOpen || sc.AtLeast) {
			t.Errorf("%s is not pinned to the machine's value: %+v", sc.Name, sc)
		}
	}
	if d.NoFile != 20000 {
		t.Errorf("nofile %d", d.NoFile)
	}
}

func nodes(n int) []Node {
	var ns []Node
	for i := 1; i <= n; i++ {
		ns = append(ns, Node{Name: fmt.Sprintf("n%d", i), Host: NodeIP(i)})
	}
	return ns
}

func TestInventoryStrictDecode(t *testing.T) {
	for _, n := range []int{1, 3, MaxNodes} {
		var inv inventory
		dec := toml.NewDecoder(strings.NewReader(Inventory(nodes(n), "id_ed25519", "known_hosts", "test", kernel.Tune())))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&inv); err != nil {
			t.Fatalf("%d nodes: %v", n, err)
		}
		if len(inv.Node) != n || inv.Node[n-1].Host != NodeIP(n) || inv.SSH.User != User || !inv.JetStream.Enabled ||
			inv.Tune.NoFile != 20000 || inv.Tune.Sysctl["fs.file-max"] != kernel.FileMax || inv.Tune.Sysctl["fs.nr_open"] != kernel.NrOpen {
			t.Fatalf("%d nodes: decoded %+v", n, inv)
		}
	}
}

// inventory/testbed.toml is Inventory's output for the default 3 nodes, with
// paths relative to inventory/ and an extra comment.
func TestCommittedInventory(t *testing.T) {
	b, err := os.ReadFile("../inventory/testbed.toml")
	if err != nil {
		t.Fatal(err)
	}
	var kept [][]byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if !bytes.HasPrefix(l, []byte("#")) {
			kept = append(kept, l)
		}
	}
	want := Inventory(nodes(3), "../testbed/out/id_ed25519", "../testbed/out/known_hosts", "x", nil)
	want = want[strings.Index(want, "\n")+1:]
	if got := string(bytes.Join(kept, nil)); got != want {
		t.Fatalf("inventory/testbed.toml is out of step with testbed.Inventory:\n%s\nwant:\n%s", got, want)
	}
}

// buildEstate writes the estate inventory for spec (secrets in a
// temporary directory), loads it with natsops and renders every node
// (nats-server's own parser and NewServer): no error is found.
func buildEstate(t *testing.T, spec EstateSpec) (*cluster.Estate, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	if err := writeSecrets(filepath.Join(dir, "s")); err != nil {
		t.Fatal(err)
	}
	spec.Identity, spec.KnownHosts, spec.Secrets, spec.Generator, spec.Tune = "id_ed25519", "estate_known_hosts", "s", "test", kernel.Tune()
	path := filepath.Join(dir, "estate.toml")
	if err := os.WriteFile(path, []byte(EstateInventory(EstateNodes(), spec)), 0o600); err != nil {
		t.Fatal(err)
	}
	est, err := cluster.LoadEstate(path)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[*cluster.Inventory][]*cluster.Node{}
	for _, inv := range est.Clusters {
		nodes[inv] = inv.Nodes
	}
	ts, err := config.LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	res := config.BuildEstate(est, ts, nodes, func(string) (string, bool) { return "", false })
	for _, f := range res.Findings {
		t.Log(f.String())
	}
	if !res.OK(config.SevError) || len(res.Configs) != 5 {
		t.Fatalf("%d configs rendered, errors among the findings above", len(res.Configs))
	}
	conf := map[string]string{}
	for _, r := range res.Configs {
		conf[r.Node.Name] = string(r.Config)
	}
	return est, conf
}

// TestEstateInventory: natsops loads and renders the generated estate
// inventory, and it is the topology the e2e tests expect: east and west
// joined by gateways, edge a leaf of east bound to APP in its own
// JetStream domain, SYS the system account, JetStream on every cluster.
func TestEstateInventory(t *testing.T) {
	est, conf := buildEstate(t, EstateSpec{})
	if got := strings.Join(est.Names(), ","); got != "east,west,edge" {
		t.Fatalf("clusters %s", got)
	}
	want := map[string]string{"east": "east-1,east-2", "west": "west-1,west-2", "edge": "edge-1"}
	for _, inv := range est.Clusters {
		var ns []string
		for _, n := range inv.Nodes {
			ns = append(ns, n.Name)
		}
		if strings.Join(ns, ",") != want[inv.ClusterName()] {
			t.Errorf("%s: nodes %v", inv.ClusterName(), ns)
		}
	}
	east, west, edge := est.Cluster("east"), est.Cluster("west"), est.Cluster("edge")
	if !east.HasGateway() || !west.HasGateway() || edge.HasGateway() || !east.LeafListens() || !edge.IsLeaf() {
		t.Errorf("topology: gateways east %v west %v edge %v, east listens for leafs %v, edge is a leaf %v",
			east.HasGateway(), west.HasGateway(), edge.HasGateway(), east.LeafListens(), edge.IsLeaf())
	}
	if r := edge.File.LeafNodes.Remotes; len(r) != 1 || edge.Hub(r[0]) != east {
		t.Errorf("edge's remotes %+v, want one to east", r)
	}
	for node, parts := range map[string][]string{
		"east-1": {`system_account: "SYS"`, "gateway {", `name: "west"`, "10.213.77.43:7222", "leafnodes {", "port: 7422", `account: "APP"`, "\njetstream {"},
		"west-2": {"gateway {", `name: "east"`, "10.213.77.41:7222", "10.213.77.42:7222", "\njetstream {"},
		"edge-1": {`domain: "edge"`, "10.213.77.41:7422", "10.213.77.42:7422", `account: "APP"`},
	} {
		for _, p := range parts {
			if !strings.Contains(conf[node], p) {
				t.Errorf("%s's config lacks %q:\n%s", node, p, conf[node])
			}
		}
	}
	if strings.Contains(conf["edge-1"], "gateway") || strings.Contains(conf["west-1"], "leafnodes") {
		t.Errorf("edge runs a gateway or west listens for leaf nodes:\n%s\n%s", conf["edge-1"], conf["west-1"])
	}
}

// TestEstateInventoryHubsWithoutJetStream: the variant the e2e test
// deploys runs JetStream on edge only.
func TestEstateInventoryHubsWithoutJetStream(t *testing.T) {
	_, conf := buildEstate(t, EstateSpec{HubsWithoutJetStream: true})
	for _, n := range []string{"east-1", "east-2", "west-1", "west-2"} {
		if strings.Contains(conf[n], "\njetstream {") || !strings.Contains(conf[n], "gateway {") {
			t.Errorf("%s: want gateways and no JetStream:\n%s", n, conf[n])
		}
	}
	if !strings.Contains(conf["edge-1"], "\njetstream {") || !strings.Contains(conf["edge-1"], `domain: "edge"`) {
		t.Errorf("edge-1: want JetStream in domain edge:\n%s", conf["edge-1"])
	}
}
