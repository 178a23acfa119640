package natsadmin

import (
	"errors"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

// TestNewReadsEitherSystemUser: the system account user is
// server.auth.system_user, or the first password user of the [accounts]
// table server.auth.system_account names (as the demo declares it);
// Declared says the same without resolving a password, and an inventory
// naming neither is ErrNoSystemUser.
func TestNewReadsEitherSystemUser(t *testing.T) {
	const nodes = "\n[[node]]\nname = \"n1\"\nhost = \"10.0.0.1\"\n[[node]]\nname = \"n2\"\nhost = \"10.0.0.2\"\n"
	env := func(k string) (string, bool) {
		if k == "SYS_PW" {
			return "from-env", true
		}
		return "", false
	}
	for _, tc := range []struct {
		name, toml, user, password string
	}{
		{"system_user", "[server.auth]\nsystem_user = \"sys\"\nsystem_password = \"env:SYS_PW\"\n[[server.auth.users]]\nuser = \"app\"\npassword = \"app-password-1234\"\n", "sys", "from-env"},
		{"an [accounts] system account", "[server.auth]\nsystem_account = \"SYS\"\n[accounts.SYS]\n[[accounts.SYS.users]]\nuser = \"admin\"\npassword = \"env:SYS_PW\"\n", "admin", "from-env"},
		{"neither", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := cluster.Parse("inv.toml", []byte(tc.toml+nodes))
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(inv, inv.Nodes, env)
			if tc.user == "" {
				if !errors.Is(err, ErrNoSystemUser) || Declared(inv, inv.Nodes) {
					t.Fatalf("New = %+v, %v (declared %v), want ErrNoSystemUser", c, err, Declared(inv, inv.Nodes))
				}
				return
			}
			if err != nil || !Declared(inv, inv.Nodes) {
				t.Fatalf("New: %v (declared %v)", err, Declared(inv, inv.Nodes))
			}
			if c.User != tc.user || c.Password != tc.password || len(c.URLs) != 2 || !strings.HasPrefix(c.URLs[1], "nats://10.0.0.2:") {
				t.Errorf("client = %s %s %v, want %s, its password and both nodes' URLs", c.User, c.Password, c.URLs, tc.user)
			}
		})
	}
}
