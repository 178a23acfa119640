package ansible

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

// The secret examples/ansible/hosts.ini sets as ansible_become_password:
// it must never reach the inventory, an error or a listing.
const secret = "not-a-real-secret-never-printed"

func load(t *testing.T, file string) *Inventory {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Parse(file, b)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// wantNode is what examples/ansible/hosts.ini's hosts must become.
type wantNode struct {
	ansible, name, host, user, jump string
	port                            int
	tags                            []string
}

var exampleNodes = []wantNode{
	{"nats-a1", "nats-a1", "10.20.0.11", "deploy", "ops@bastion.example.internal:2200", 2222, []string{"zone-a"}},
	{"nats-a2", "nats-a2", "10.20.0.12", "", "ops@bastion.example.internal:2200", 0, []string{"zone-a"}},
	{"nats-b1", "nats-b1-east", "10.20.1.11", "", "ops@bastion-b.example.internal", 0, nil},
	{"nats-b2.example.internal", "nats-b2.example.internal", "nats-b2.example.internal", "ops", "ops@bastion.example.internal:2200", 0, nil},
	{"fd00:20::13", "fd00-20--13", "fd00:20::13", "ops", "ops@bastion.example.internal:2200", 0, nil},
}

// checkExample imports group nats of examples/ansible/hosts.ini's JSON and
// checks every mapped value, in the inventory natsops loads back.
func checkExample(t *testing.T, inv *Inventory) {
	t.Helper()
	res, err := Import(inv, Options{Group: "nats"})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "natsops.toml")
	if err := os.WriteFile(out, res.TOML, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := cluster.Load(out)
	if err != nil {
		t.Fatalf("the imported inventory does not load: %v\n%s", err, res.TOML)
	}
	if got := loaded.ClusterName(); got != "nats" {
		t.Errorf("cluster name %q, want the group's, nats", got)
	}
	if len(loaded.Nodes) != len(exampleNodes) {
		t.Fatalf("%d nodes, want %d (prom-1 of group monitoring must not be imported): %v", len(loaded.Nodes), len(exampleNodes), loaded.NodeNames())
	}
	for i, w := range exampleNodes {
		n, spec := loaded.Nodes[i], loaded.File.Nodes[i]
		if n.Name != w.name || n.Host != w.host {
			t.Errorf("node %d: %s at %s, want %s at %s", i, n.Name, n.Host, w.name, w.host)
		}
		if got := deref(spec.SSH.User); got != w.user {
			t.Errorf("%s: ssh.user %q, want %q", w.name, got, w.user)
		}
		if got := deref(spec.SSH.ProxyJump); got != w.jump {
			t.Errorf("%s: ssh.proxy_jump %q, want %q", w.name, got, w.jump)
		}
		gotPort := 0
		if spec.SSH.Port != nil {
			gotPort = *spec.SSH.Port
		}
		if gotPort != w.port {
			t.Errorf("%s: ssh.port %d, want %d", w.name, gotPort, w.port)
		}
		if !reflect.DeepEqual(spec.Tags, w.tags) {
			t.Errorf("%s: tags %v, want %v", w.name, spec.Tags, w.tags)
		}
		if got := res.Nodes[i].Ignored; !reflect.DeepEqual(got, []string{"ansible_become_password", "ansible_python_interpreter"}) {
			t.Errorf("%s: ignored %v", w.name, got)
		}
	}
	text := string(res.TOML)
	for _, want := range []string{
		"host = '10.20.0.11'               # ansible_host",
		"ssh.port = 2222                   # ansible_port",
		"# ansible_ssh_common_args -o ProxyCommand",
		"# the inventory hostname (no ansible_host)",
		"# ignored: ansible_become_password, ansible_python_interpreter",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the inventory lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, secret) || strings.Contains(text, "/usr/bin/python3") {
		t.Errorf("an ignored variable's value reached the inventory:\n%s", text)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TestImportExample: the committed output of Debian's ansible-core 2.14
// for examples/ansible/hosts.ini (`ansible-inventory --list`, and
// `--list --export` where group vars stay on the groups) maps to the same
// nodes.
func TestImportExample(t *testing.T) {
	for _, f := range []string{"testdata/hosts.json", "testdata/hosts-export.json"} {
		t.Run(filepath.Base(f), func(t *testing.T) { checkExample(t, load(t, f)) })
	}
}

// TestImportRealAnsible: the same on what the real ansible-inventory prints
// now. scripts/ansible.sh installs Debian's ansible-core and runs it with
// NATSOPS_ANSIBLE_JSON naming `ansible-inventory -i
// examples/ansible/hosts.ini --list` output.
func TestImportRealAnsible(t *testing.T) {
	f := os.Getenv("NATSOPS_ANSIBLE_JSON")
	if f == "" {
		t.Skip("NATSOPS_ANSIBLE_JSON not set (scripts/ansible.sh sets it)")
	}
	checkExample(t, load(t, f))
}

// TestHostsOfGroup: a group's hosts are its own, then its children's, depth
// first in the document's order, each once, a cycle not followed forever.
func TestHostsOfGroup(t *testing.T) {
	doc := `{"_meta": {"hostvars": {}}, "all": {"children": ["top", "ungrouped"]},
		"top": {"hosts": ["t1", "b2"], "children": ["a", "b"]},
		"a": {"hosts": ["a1", "a2"], "children": ["b"]},
		"b": {"hosts": ["b1", "b2", "a1"], "children": ["top"]}}`
	inv, err := Parse("doc", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := inv.Hosts("top")
	if want := []string{"t1", "b2", "a1", "a2", "b1"}; !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("hosts of top: %v, want %v", got, want)
	}
	if _, ok := inv.Hosts("nope"); ok {
		t.Error("a group that does not exist was found")
	}
}

// TestGroupVarPrecedence: with --export, vars merge as Ansible merges them:
// deeper groups over shallower, ansible_group_priority within a depth,
// then the name, the host's own last.
func TestGroupVarPrecedence(t *testing.T) {
	doc := `{"_meta": {"hostvars": {"h1": {"x": "host"}}},
		"all": {"children": ["p"], "vars": {"x": "all", "y": "all", "z": "all", "w": "all"}},
		"p": {"children": ["c"], "vars": {"y": "p", "z": "p"}},
		"c": {"hosts": ["h1"], "vars": {"z": "c", "x": "c"}},
		"lo": {"hosts": ["h1"], "vars": {"w": "lo", "ansible_group_priority": 5}},
		"hi": {"hosts": ["h1"], "vars": {"w": "hi"}}}`
	inv, err := Parse("doc", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	v := inv.Vars("h1")
	for k, want := range map[string]string{"x": "host", "y": "p", "z": "c", "w": "lo"} {
		if v[k] != want {
			t.Errorf("%s = %v, want %s", k, v[k], want)
		}
	}
}

func TestProxyFromArgs(t *testing.T) {
	for _, c := range []struct {
		args, jump, via string
		others          []string
		err             string
	}{
		{"-o ProxyJump=bastion", "bastion", "-o ProxyJump", nil, ""},
		{"-o 'ProxyJump bastion'", "bastion", "-o ProxyJump", nil, ""},
		{"-oProxyJump=ops@b1:2200,b2", "ops@b1:2200,b2", "-o ProxyJump", nil, ""},
		{"-J bastion", "bastion", "-J", nil, ""},
		{"-Jops@bastion", "ops@bastion", "-J", nil, ""},
		{`-o ProxyCommand="ssh -W %h:%p -q bastion"`, "bastion", "-o ProxyCommand", nil, ""},
		{`-o ProxyCommand="ssh -W %h:%p -p 2200 -l ops bastion"`, "ops@bastion:2200", "-o ProxyCommand", nil, ""},
		{`-o 'ProxyCommand=/usr/bin/ssh -q -W [%h]:%p ops@bastion'`, "ops@bastion", "-o ProxyCommand", nil, ""},
		{"-o ProxyCommand=none", "none", "-o ProxyCommand", nil, ""},
		// ssh: the first value given wins.
		{"-J first -o ProxyJump=second", "first", "-J", nil, ""},
		{"-C -o StrictHostKeyChecking=no -i /k -o ProxyJump=b", "b", "-o ProxyJump", []string{"-C", "-o StrictHostKeyChecking", "-i"}, ""},
		{`-o ProxyCommand="nc -X 5 -x proxy:1080 %h %p"`, "", "", nil, "ProxyCommand runs nc, not `ssh -W %h:%p [user@]host`"},
		{`-o ProxyCommand="ssh bastion nc %h %p"`, "", "", nil, "ProxyCommand runs ssh, not `ssh -W"},
		{"-J", "", "", nil, "-J without a jump host"},
		{`-o "unterminated`, "", "", nil, "cannot split"},
	} {
		jump, via, others, err := proxyFromArgs(c.args)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.args, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.args, err)
		case jump != c.jump || via != c.via || !reflect.DeepEqual(others, c.others):
			t.Errorf("%s: %q via %q, others %q; want %q via %q, others %q", c.args, jump, via, others, c.jump, c.via, c.others)
		}
	}
}

// TestBadInput: every refusal names the source, group or host and the fix,
// with the kind the CLI turns into its exit code, and never a value of an
// ignored variable.
func TestBadInput(t *testing.T) {
	hostDoc := func(hostvars string) string {
		return `{"_meta": {"hostvars": ` + hostvars + `}, "all": {"children": ["nats"]}, "nats": {"hosts": ["h1", "h2"]}}`
	}
	for _, c := range []struct {
		name, doc, group string
		kind             Kind
		want             []string
	}{
		{"empty object", `{}`, "nats", KindInvalid, []string{"in: not an Ansible inventory", "has no keys at all", "fix: give natsops the output of: ansible-inventory -i YOUR_INVENTORY --list"}},
		{"array", `[{"all": {}}]`, "nats", KindInvalid, []string{"in: the document is a JSON array, not the object"}},
		{"natsops json", `{"ok": true, "inventory": "natsops.toml", "nodes": 3}`, "nats", KindInvalid, []string{`has keys "inventory", "nodes", "ok"`}},
		{"syntax", "{\n  \"all\": {\n    \"hosts\": [\"a\",]\n  }\n}", "nats", KindInvalid, []string{"in: line 3, column 19: not valid JSON"}},
		{"truncated", `{"all": {"hosts": ["a"`, "nats", KindInvalid, []string{"not valid JSON: unexpected end of JSON input"}},
		{"empty input", ``, "nats", KindInvalid, []string{"empty input"}},
		{"group shape", `{"all": {"hosts": "h1"}}`, "nats", KindInvalid, []string{"group all: hosts is a JSON string, want an array of strings"}},
		{"unknown child", `{"all": {"children": ["ghost"]}}`, "all", KindInvalid, []string{"group all: lists child group ghost, which the document does not define"}},
		{"no group", hostDoc(`{}`), "nat", KindNoGroup, []string{"group nat: no such group in the inventory", "fix: pass one of its groups with --group: all, nats"}},
		{"empty group", `{"all": {"children": ["nats"]}, "nats": {"children": ["zone_a"]}, "zone_a": {}}`, "nats", KindInvalid, []string{"group nats: the group is empty: neither it nor its children (zone_a) have hosts"}},
		{"no address", `{"_meta": {"hostvars": {"nats 1": {}}}, "all": {"children": ["nats"]}, "nats": {"hosts": ["nats 1"]}}`, "nats", KindInvalid, []string{"host nats 1: the host has no address", "fix: set ansible_host for it"}},
		{"empty ansible_host", hostDoc(`{"h1": {"ansible_host": " "}}`), "nats", KindInvalid, []string{"host h1: ansible_host is empty: the host has no address"}},
		{"bad ansible_host", hostDoc(`{"h1": {"ansible_host": "10.0.0.1; rm -rf /"}}`), "nats", KindInvalid, []string{`host h1: ansible_host "10.0.0.1; rm -rf /" is not a host name or an IP address`}},
		{"same address", hostDoc(`{"h1": {"ansible_host": "10.0.0.1", "ansible_port": 2201}, "h2": {"ansible_host": "10.0.0.1", "ansible_port": 2202}}`), "nats", KindInvalid, []string{"host h2: has the same address 10.0.0.1 as host h1"}},
		{"same name", hostDoc(`{"h1": {"nats_server_name": "n"}, "h2": {"nats_server_name": "n"}}`), "nats", KindInvalid, []string{"host h2: its node name n is also host h1's", "nats_server_name"}},
		{"bad port", hostDoc(`{"h1": {"ansible_port": 70000}}`), "nats", KindInvalid, []string{`host h1: ansible_port "70000" is not a port`}},
		{"bad user", hostDoc(`{"h1": {"ansible_user": "a b"}}`), "nats", KindInvalid, []string{`host h1: ansible_user "a b" is not a user name`}},
		{"docker", hostDoc(`{"h1": {"ansible_connection": "docker"}}`), "nats", KindInvalid, []string{"host h1: ansible_connection is docker"}},
		{"proxy command", hostDoc(`{"h1": {"ansible_ssh_common_args": "-o ProxyCommand='nc -x proxy %h %p'"}}`), "nats", KindInvalid, []string{"host h1: ansible_ssh_common_args: ProxyCommand runs nc", "fix: natsops follows ProxyJump"}},
		{"sshpass", hostDoc(`{"h1": {"ansible_ssh_common_args": "-o ProxyCommand='sshpass -p ` + secret + ` ssh -W %h:%p b'"}}`), "nats", KindInvalid, []string{"ProxyCommand runs sshpass, not"}},
		{"bad jump", hostDoc(`{"h1": {"ansible_ssh_extra_args": "-J 'a b'"}}`), "nats", KindInvalid, []string{`host h1: ansible_ssh_extra_args: -J "a b": "a b" is not a host name`}},
		{"cluster names", hostDoc(`{"h1": {"nats_cluster_name": "east"}, "h2": {"nats_cluster_name": "west"}}`), "nats", KindInvalid, []string{"the hosts disagree on nats_cluster_name: east (h1); west (h2)"}},
		{"bad server name", hostDoc(`{"h1": {"nats_server_name": "-x"}}`), "nats", KindInvalid, []string{`host h1: nats_server_name "-x" is not a natsops node name`}},
		{"tags as string list", hostDoc(`{"h1": {"nats_tags": "[\"a\"]"}}`), "nats", KindInvalid, []string{"a list written as a string"}},
		{"too many", tooMany(), "nats", KindInvalid, []string{"group nats: 513 hosts: one natsops inventory takes at most 512 nodes", "fix: import each cluster's own group"}},
		{"two problems", hostDoc(`{"h1": {"ansible_port": "x", "ansible_password": "` + secret + `"}, "h2": {"ansible_host": ""}}`), "nats", KindInvalid, []string{"2 problems", `host h1: ansible_port "x" is not a port`, "host h2: ansible_host is empty"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv, err := Parse("in", []byte(c.doc))
			if err == nil {
				_, err = Import(inv, Options{Group: c.group})
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want an *Error", err, err)
			}
			if ae.Kind != c.kind {
				t.Errorf("kind %d, want %d", ae.Kind, c.kind)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if !strings.Contains(err.Error(), "fix: ") {
				t.Errorf("error says no fix:\n%v", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows a secret:\n%v", err)
			}
		})
	}
}

// TestMapped: the variables natsops understands beyond address, port and
// user, and how the cluster gets its name.
func TestMapped(t *testing.T) {
	doc := `{"_meta": {"hostvars": {
		"h1": {"ansible_ssh_host": "10.0.0.1", "ansible_host": "10.9.9.9", "ansible_ssh_user": "u1", "ansible_ssh_private_key_file": "~/.ssh/nats", "nats_route_host": "10.1.0.1", "nats_cluster_name": "east", "nats_tags": ["az:1", "ssd"], "ansible_password": "` + secret + `"},
		"h2": {"ansible_host": "10.0.0.2", "ansible_connection": "local", "nats_cluster_name": "east", "ansible_ssh_common_args": "-C -o ProxyCommand=none", "nats_tags": "a, b"}}},
		"all": {"children": ["nats"]}, "nats": {"hosts": ["h1", "h2"]}}`
	inv, err := Parse("in", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(inv, Options{Group: "nats"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cluster != "east" || res.ClusterFrom != "nats_cluster_name" {
		t.Errorf("cluster %q from %q, want east from nats_cluster_name", res.Cluster, res.ClusterFrom)
	}
	h1, h2 := res.Nodes[0], res.Nodes[1]
	if h1.Host != "10.0.0.1" || h1.User != "u1" || h1.IdentityFile != "~/.ssh/nats" || h1.RouteHost != "10.1.0.1" || !reflect.DeepEqual(h1.Tags, []string{"az:1", "ssd"}) {
		t.Errorf("h1: %+v", h1)
	}
	if !reflect.DeepEqual(h1.Ignored, []string{"ansible_password"}) {
		t.Errorf("h1 ignored %v, want ansible_password by name", h1.Ignored)
	}
	if h2.Connection != "local" || h2.ProxyJump != "" || !reflect.DeepEqual(h2.Tags, []string{"a", "b"}) || !reflect.DeepEqual(h2.Ignored, []string{"ansible_ssh_common_args -C"}) {
		t.Errorf("h2: %+v", h2)
	}
	if strings.Contains(string(res.TOML), secret) {
		t.Errorf("the secret reached the inventory:\n%s", res.TOML)
	}
	res, err = Import(inv, Options{Group: "nats", ClusterName: "prod"})
	if err != nil || res.Cluster != "prod" || !strings.Contains(string(res.TOML), "name = 'prod'                # from --cluster-name") {
		t.Errorf("--cluster-name: %v\n%s", err, res.TOML)
	}
	if _, err = Import(inv, Options{Group: "nats", ClusterName: "a b"}); err == nil || !strings.Contains(err.Error(), `--cluster-name "a b" is not a cluster name`) {
		t.Errorf("a bad --cluster-name: %v", err)
	}
}

func tooMany() string {
	hosts := make([]string, cluster.MaxNodes+1)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("%q", fmt.Sprintf("h%d", i))
	}
	return `{"all": {"children": ["nats"]}, "nats": {"hosts": [` + strings.Join(hosts, ",") + `]}}`
}
