package remote

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
)

const testSSHConfig = `
Host web1
    HostName 10.0.0.5
    User alice
    Port 2222
    IdentityFile ~/.ssh/web_key
    IdentityFile keys/second
    ProxyJump bastion
    UserKnownHostsFile ~/.ssh/kh_web /etc/ssh/kh_shared
    ConnectTimeout 7

Host bastion
    HostName bastion.example.com
    User jump
    Port 2200
    IdentityFile /keys/jump

Host *.internal
    HostName %h.corp
    ProxyJump ops@gw:2022,bastion

Host *
    ServerAliveInterval 30
`

func testEnv(t *testing.T) Env {
	t.Helper()
	cfg, err := ParseSSHConfig([]byte(testSSHConfig))
	if err != nil {
		t.Fatal(err)
	}
	return Env{Home: "/home/me", User: "me", SSHConfig: cfg, Getenv: func(k string) string {
		if k == "SSH_AUTH_SOCK" {
			return "/tmp/agent.sock"
		}
		return ""
	}}
}

func ptr[T any](v T) *T { return &v }

func TestTargetDefaults(t *testing.T) {
	tg, err := TargetFromNode(&cluster.Node{Name: "n1", Host: "10.1.1.1"}, "/inv", Env{Home: "/home/me", User: "me"})
	if err != nil {
		t.Fatal(err)
	}
	want := Target{Node: "n1", Host: "10.1.1.1", Port: 22, User: "me",
		IdentityFiles:     []string{"/home/me/.ssh/id_ed25519", "/home/me/.ssh/id_ecdsa", "/home/me/.ssh/id_rsa"},
		IdentitiesDefault: true, KnownHosts: []string{"/home/me/.ssh/known_hosts"},
		HostKeyChecking: HostKeyStrict, ConnectTimeout: DefaultConnectTimeout, Sudo: true}
	if !reflect.DeepEqual(tg, want) {
		t.Errorf("got  %+v\nwant %+v", tg, want)
	}
	if tg.Addr() != "10.1.1.1:22" {
		t.Errorf("Addr %s", tg.Addr())
	}
}

func TestTargetSSHConfigAlias(t *testing.T) {
	env := testEnv(t)
	tg, err := TargetFromNode(&cluster.Node{Name: "w", Host: "web1"}, "/inv", env)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Host != "10.0.0.5" || tg.User != "alice" || tg.Port != 2222 || tg.ConnectTimeout != 7*time.Second {
		t.Errorf("got %+v", tg)
	}
	if want := []string{"/home/me/.ssh/web_key", "keys/second"}; !reflect.DeepEqual(tg.IdentityFiles, want) || tg.IdentitiesDefault {
		t.Errorf("identities %v (default %v), want %v", tg.IdentityFiles, tg.IdentitiesDefault, want)
	}
	if want := []string{"/home/me/.ssh/kh_web", "/etc/ssh/kh_shared"}; !reflect.DeepEqual(tg.KnownHosts, want) {
		t.Errorf("known_hosts %v", tg.KnownHosts)
	}
	if len(tg.ProxyJump) != 1 {
		t.Fatalf("jumps %+v", tg.ProxyJump)
	}
	j := tg.ProxyJump[0]
	if j.Node != "bastion" || j.Host != "bastion.example.com" || j.User != "jump" || j.Port != 2200 || !reflect.DeepEqual(j.IdentityFiles, []string{"/keys/jump"}) {
		t.Errorf("jump %+v", j)
	}
	// The jump host has no known_hosts of its own in ssh_config: it uses
	// the node's files plus ~/.ssh/known_hosts.
	if want := []string{"/home/me/.ssh/kh_web", "/etc/ssh/kh_shared", "/home/me/.ssh/known_hosts"}; !reflect.DeepEqual(j.KnownHosts, want) {
		t.Errorf("jump known_hosts %v", j.KnownHosts)
	}
	if !strings.Contains(tg.label(), "via bastion") {
		t.Errorf("label %s", tg.label())
	}
	if DialOptionsFromEnv(env).AgentSocket != "/tmp/agent.sock" {
		t.Error("SSH_AUTH_SOCK not used")
	}
}

func TestTargetInventoryWins(t *testing.T) {
	env := testEnv(t)
	n := &cluster.Node{Name: "w", Host: "web1", SSH: cluster.SSHSpec{
		User: ptr("ops"), Port: ptr(22), IdentityFile: ptr("keys/id"), KnownHosts: ptr("known_hosts"),
		HostKeyChecking: ptr("accept-new"), ProxyJump: ptr("root@10.9.9.9:2201"), Sudo: ptr(false),
		ConnectTimeout: &cluster.Duration{Duration: 3 * time.Second},
	}}
	tg, err := TargetFromNode(n, "/inv", env)
	if err != nil {
		t.Fatal(err)
	}
	// HostName still comes from ssh_config: the inventory names the alias.
	if tg.Host != "10.0.0.5" || tg.User != "ops" || tg.Port != 22 || tg.HostKeyChecking != HostKeyAcceptNew || tg.Sudo || tg.ConnectTimeout != 3*time.Second {
		t.Errorf("got %+v", tg)
	}
	if !reflect.DeepEqual(tg.IdentityFiles, []string{"/inv/keys/id"}) || tg.IdentitiesDefault {
		t.Errorf("identity %v", tg.IdentityFiles)
	}
	if !reflect.DeepEqual(tg.KnownHosts, []string{"/inv/known_hosts"}) {
		t.Errorf("known_hosts %v", tg.KnownHosts)
	}
	if len(tg.ProxyJump) != 1 || tg.ProxyJump[0].Addr() != "10.9.9.9:2201" || tg.ProxyJump[0].User != "root" || tg.ProxyJump[0].HostKeyChecking != HostKeyAcceptNew {
		t.Errorf("jump %+v", tg.ProxyJump)
	}
	// "~" in inventory paths is the home dir; absolute paths stay.
	n.SSH.IdentityFile, n.SSH.KnownHosts = ptr("~/k"), ptr("/abs/kh")
	tg, _ = TargetFromNode(n, "/inv", env)
	if tg.IdentityFiles[0] != "/home/me/k" || tg.KnownHosts[0] != "/abs/kh" {
		t.Errorf("%v %v", tg.IdentityFiles, tg.KnownHosts)
	}
	// proxy_jump = "none" turns off ssh_config's ProxyJump.
	n.SSH.ProxyJump = ptr("none")
	tg, _ = TargetFromNode(n, "/inv", env)
	if len(tg.ProxyJump) != 0 {
		t.Errorf("jumps %+v", tg.ProxyJump)
	}
}

func TestTargetJumpChainAndPatterns(t *testing.T) {
	tg, err := TargetFromNode(&cluster.Node{Name: "db", Host: "db1.internal"}, "", testEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if tg.Host != "db1.internal.corp" {
		t.Errorf("%%h: host %s", tg.Host)
	}
	if len(tg.ProxyJump) != 2 || tg.ProxyJump[0].Addr() != "gw:2022" || tg.ProxyJump[0].User != "ops" ||
		tg.ProxyJump[1].Addr() != "bastion.example.com:2200" || tg.ProxyJump[1].User != "jump" {
		t.Errorf("jumps %+v", tg.ProxyJump)
	}
}

func TestTargetBadInput(t *testing.T) {
	env := testEnv(t)
	for _, n := range []*cluster.Node{
		{Name: "x", Host: "h", SSH: cluster.SSHSpec{HostKeyChecking: ptr("no")}},
		{Name: "x", Host: "h", SSH: cluster.SSHSpec{ProxyJump: ptr("b:notaport")}},
		{Name: "x", Host: "h", SSH: cluster.SSHSpec{ProxyJump: ptr("a,,b")}},
	} {
		if _, err := TargetFromNode(n, "", env); err == nil || !strings.HasPrefix(err.Error(), "x: ") {
			t.Errorf("%+v: err = %v", n.SSH, err)
		}
	}
}

// Connect reaches a local node as a local shell and an SSH node over SSH;
// a bad SSH setting is an error naming the node.
func TestConnect(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	kh := knownHostsFile(t, s.knownLine())
	nodes := []*cluster.Node{
		{Name: "local", Connection: "local"},
		{Name: "sshd", Host: "127.0.0.1", Connection: "ssh", SSH: cluster.SSHSpec{User: ptr("u"), Port: ptr(s.port), IdentityFile: ptr(id), KnownHosts: ptr(kh)}},
		{Name: "bad", Host: "127.0.0.1", Connection: "ssh", SSH: cluster.SSHSpec{HostKeyChecking: ptr("off")}},
	}
	env := Env{Home: t.TempDir(), User: "u"}
	hosts := make([]Host, len(nodes))
	for i, n := range nodes {
		h, err := Connect(testCtx(t), n, "/inv", env, quiet())
		if (err != nil) != (n.Name == "bad") || (err != nil && !strings.HasPrefix(err.Error(), "bad: ")) {
			t.Fatalf("%s: %v", n.Name, err)
		}
		if h != nil {
			defer h.Close()
		}
		hosts[i] = h
	}
	if _, ok := hosts[0].(*Local); !ok {
		t.Errorf("local node: %T", hosts[0])
	}
	res, err := hosts[1].Run(testCtx(t), "echo ok", RunOptions{})
	if err != nil || string(res.Stdout) != "ok\n" {
		t.Errorf("%q %v", res.Stdout, err)
	}
}
