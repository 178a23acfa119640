package testbed

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/natsops/natsops/pkg/cluster"
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
