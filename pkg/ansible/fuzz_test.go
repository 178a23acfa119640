package ansible

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/natsops/natsops/pkg/cluster"
)

// FuzzImport: whatever the hostnames, addresses, users and ssh args of an
// Ansible inventory hold, an import either refuses them with problems that
// name the host and a fix, or writes an inventory that pkg/cluster loads
// back with exactly those values (nothing a value holds escapes its TOML
// string or its comment).
func FuzzImport(f *testing.F) {
	f.Add("nats-1", "10.0.0.1", "ops", "-o ProxyJump=ops@bastion:2200", "east")
	f.Add("fd00::1", "", "deploy", `-o ProxyCommand="ssh -W %h:%p -q bastion"`, "")
	f.Add("n'1\"\n", "h\n[x]", "u'\"#", "-J a\nb", "c\"#\n")
	f.Add("nats 1", "nats-1.example.internal", "", "-C -o 'ProxyJump=b' -J x", "")
	f.Fuzz(func(t *testing.T, host, addr, user, args, clusterName string) {
		for _, s := range []string{host, addr, user, args, clusterName} {
			if !utf8.ValidString(s) {
				t.Skip() // JSON carries text: encoding/json would replace the bytes
			}
		}
		vars := map[string]any{"ansible_user": user, "ansible_ssh_common_args": args, "nats_server_name_x": addr}
		if addr != "" {
			vars["ansible_host"] = addr
		}
		if clusterName != "" {
			vars["nats_cluster_name"] = clusterName
		}
		doc, err := json.Marshal(map[string]any{
			"_meta": map[string]any{"hostvars": map[string]any{host: vars}},
			"all":   map[string]any{"children": []string{"nats"}},
			"nats":  map[string]any{"hosts": []string{host}},
		})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := Parse("fuzz.json", doc)
		if err != nil {
			t.Fatalf("a well-formed document refused: %v", err)
		}
		res, err := Import(inv, Options{Group: "nats"})
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || len(ae.Problems) == 0 {
				t.Fatalf("error without problems: %T %v", err, err)
			}
			for _, p := range ae.Problems {
				if p.Msg == "" || p.Fix == "" || (p.Host == "" && p.Group == "") {
					t.Fatalf("problem without message, fix, host or group: %+v", p)
				}
			}
			return
		}
		loaded, err := cluster.Parse("fuzz.toml", res.TOML)
		if err != nil {
			t.Fatalf("Import returned an inventory that does not load: %v\n%s", err, res.TOML)
		}
		n, spec := loaded.Nodes[0], loaded.File.Nodes[0]
		want := res.Nodes[0]
		if len(loaded.Nodes) != 1 || n.Name != want.Name || n.Host != want.Host || deref(spec.SSH.User) != want.User || deref(spec.SSH.ProxyJump) != want.ProxyJump {
			t.Fatalf("round trip changed the node: %+v, loaded %s %s %q %q\n%s", want, n.Name, n.Host, deref(spec.SSH.User), deref(spec.SSH.ProxyJump), res.TOML)
		}
		if addr != "" && n.Host != strings.TrimSpace(addr) { // surrounding spaces are dropped
			t.Fatalf("host %q, want ansible_host %q", n.Host, addr)
		}
		if user != "" && deref(spec.SSH.User) != user {
			t.Fatalf("ssh.user %q, want ansible_user %q", deref(spec.SSH.User), user)
		}
		if loaded.ClusterName() != res.Cluster {
			t.Fatalf("cluster %q, want %q", loaded.ClusterName(), res.Cluster)
		}
	})
}
