package natsadmin

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/natsops/natsops/internal/natstest"
)

func clientURL(s *server.Server) string { return "nats://" + s.Addr().(*net.TCPAddr).String() }

// TestConnectionsAndKick against a real 3-node cluster: every server
// answers CONNZ with its clients and their accounts; a kick closes the
// named client (which reconnects), and one of an unknown cid is refused.
func TestConnectionsAndKick(t *testing.T) {
	servers := natstest.StartClusterWith(t, 3, natstest.WithSystemUser)
	natstest.WaitFor(t, "routes", func() (bool, string) {
		for _, s := range servers {
			if s.NumRoutes() < 2 {
				return false, s.Name()
			}
		}
		return true, ""
	})
	var apps []*nats.Conn
	for i := 0; i < 4; i++ {
		nc, err := nats.Connect(clientURL(servers[1]), nats.UserInfo(natstest.AppUser, natstest.AppPassword), nats.Name("app"), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		apps = append(apps, nc)
	}
	sys, err := nats.Connect(clientURL(servers[0]), nats.UserInfo(natstest.SystemUser, natstest.SystemPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	c := &Conns{NC: sys, Cluster: "test", Expect: 3, Wait: 2 * time.Second}
	ctx := context.Background()
	got, err := c.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Name != "n1" || got[1].Name != "n2" || got[2].Name != "n3" {
		t.Fatalf("servers: %+v, want n1, n2, n3", got)
	}
	// The global account's clients: /connz names no account for them.
	var n2apps int
	for _, cn := range got[1].Conns {
		if (cn.Account == "" || cn.Account == server.DEFAULT_GLOBAL_ACCOUNT) && cn.Name == "app" && cn.Kind == "Client" {
			n2apps++
		}
	}
	if n2apps != 4 || len(got[2].Conns) != 0 {
		t.Errorf("n2 lists %d $G clients (want 4), n3 %d connections (want 0)", n2apps, len(got[2].Conns))
	}
	sid, cid := c.Self()
	if sid != servers[0].ID() || cid == 0 {
		t.Errorf("Self = %s %d, want n1's id and a cid", sid, cid)
	}
	target := got[1].Conns[0]
	if err := c.Kick(ctx, got[1].ID, target.CID); err != nil {
		t.Fatalf("kick: %v", err)
	}
	natstest.WaitFor(t, "the kicked client reconnected", func() (bool, string) {
		for _, nc := range apps {
			if nc.Stats().Reconnects > 0 && nc.IsConnected() {
				return true, ""
			}
		}
		return false, "no client reconnected yet"
	})
	if err := c.Kick(ctx, got[1].ID, 999999); err == nil || !strings.Contains(err.Error(), "close client 999999") || !strings.Contains(err.Error(), "no such client") {
		t.Errorf("kick of an unknown cid: %v, want a refusal", err)
	}
	// A cluster filter that matches no server: nobody answers.
	if _, err := (&Conns{NC: sys, Cluster: "other", Expect: 3, Wait: 500 * time.Millisecond}).Connections(ctx); err == nil || !strings.Contains(err.Error(), "no server answered") {
		t.Errorf("another cluster's servers: %v, want no server answered", err)
	}
}
