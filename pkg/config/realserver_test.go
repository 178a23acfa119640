package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

// TestRealServerAcceptsRenderedConfigs runs the real `nats-server -t -c`
// of every binary listed in NATSOPS_NATS_SERVERS (colon-separated) on the
// rendered configs. `make realserver` builds the module's nats-server and
// unpacks Debian's 2.9.10 and runs this; plain `go test` skips it.
func TestRealServerAcceptsRenderedConfigs(t *testing.T) {
	list := os.Getenv("NATSOPS_NATS_SERVERS")
	if list == "" {
		t.Skip("NATSOPS_NATS_SERVERS not set; run `make realserver`")
	}
	for _, bin := range strings.Split(list, ":") {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", bin, err, out)
		}
		ver := regexp.MustCompile(`v(\d+\.\d+\.\d+)`).FindStringSubmatch(string(out))
		if ver == nil {
			t.Fatalf("%s: no version in %q", bin, out)
		}
		v, _ := cluster.ParseVersion(ver[1])
		old := v.Less(cluster.Version{Major: 2, Minor: 10})
		inventories := []string{"../../inventory/example.toml", "../../inventory/local.toml", "testdata/single.toml", "../../inventory/supercluster.toml"}
		if !old {
			inventories = append(inventories, "testdata/full.toml")
		}
		for _, src := range inventories {
			est, err := cluster.LoadEstate(src)
			if err != nil {
				t.Fatal(err)
			}
			ts, _ := LoadTemplates(nil)
			tls := &tlsStandIns{}
			for _, inv := range est.Clusters {
				for _, n := range inv.Nodes {
					r, err := Render(inv, ts, n, RenderOptions{Env: cluster.MapEnv(testEnv), TLSPath: tls.path})
					if err != nil {
						t.Fatal(err)
					}
					path := filepath.Join(t.TempDir(), n.Name+".conf")
					if err := os.WriteFile(path, r.Config, 0o600); err != nil {
						t.Fatal(err)
					}
					out, err := exec.Command(bin, "-t", "-c", path).CombinedOutput()
					if err != nil || !strings.Contains(string(out), "is valid") {
						t.Errorf("nats-server %s -t refused %s node %s: %v\n%s\n--- config:\n%s", ver[1], src, n.Name, err, out, r.Config)
					} else {
						t.Logf("nats-server %s -t: %s node %s valid", ver[1], filepath.Base(src), n.Name)
					}
				}
			}
			tls.cleanup()
		}
	}
}
