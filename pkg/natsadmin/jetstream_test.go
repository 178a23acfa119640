package natsadmin_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/natsops/natsops/internal/natstest"
	"github.com/natsops/natsops/pkg/natsadmin"
)

func connect(t *testing.T, servers []*server.Server, user, pass string) *nats.Conn {
	t.Helper()
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(user, pass))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func leaderOf(servers []*server.Server) string {
	for _, s := range servers {
		if s.JetStreamIsLeader() {
			return s.Name()
		}
	}
	return ""
}

func waitMeta(t *testing.T, servers []*server.Server) {
	t.Helper()
	natstest.WaitFor(t, "a meta leader", func() (bool, string) {
		return leaderOf(servers) != "", "no meta leader"
	})
}

// TestStepDownToPreferred: the meta leader steps down to the server the
// request names; a name that is not a peer is refused by the server.
func TestStepDownToPreferred(t *testing.T) {
	servers := natstest.StartClusterWith(t, 3, natstest.WithSystemUser)
	waitMeta(t, servers)
	nc := connect(t, servers, natstest.SystemUser, natstest.SystemPassword)
	ctx := context.Background()
	prev := leaderOf(servers)
	to := "n1"
	if prev == "n1" {
		to = "n2"
	}
	var err error
	natstest.WaitFor(t, "the step-down accepted", func() (bool, string) {
		err = natsadmin.StepDown(ctx, nc, to)
		return err == nil, fmt.Sprint(err)
	})
	natstest.WaitFor(t, to+" leading", func() (bool, string) {
		return leaderOf(servers) == to, "leader " + leaderOf(servers)
	})
	err = natsadmin.StepDown(ctx, nc, "n9")
	var ae *natsadmin.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.Description, "n9") {
		t.Errorf("step-down to n9: %v, want the server's refusal naming it", err)
	}
}

// TestEvacuateR1KeepsMessages: an R1 stream on a server moves to another
// one with every message it had, and the server holds no replica after.
func TestEvacuateR1KeepsMessages(t *testing.T) {
	servers := natstest.StartClusterWith(t, 3, natstest.WithSystemUser)
	waitMeta(t, servers)
	app := connect(t, servers, natstest.AppUser, natstest.AppPassword)
	js, err := app.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	var si *nats.StreamInfo
	natstest.WaitFor(t, "stream R1 created", func() (bool, string) {
		si, err = js.AddStream(&nats.StreamConfig{Name: "R1", Subjects: []string{"r1.>"}, Replicas: 1})
		return err == nil, fmt.Sprint(err)
	})
	const n = 200
	for i := 0; i < n; i++ {
		if _, err := js.Publish("r1.x", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	holder := si.Cluster.Leader
	sys := connect(t, servers, natstest.SystemUser, natstest.SystemPassword)
	natstest.WaitFor(t, "evacuate accepted", func() (bool, string) {
		err = natsadmin.Evacuate(context.Background(), sys, holder)
		return err == nil, fmt.Sprint(err)
	})
	natstest.WaitFor(t, "R1 led elsewhere with every message", func() (bool, string) {
		si, err := js.StreamInfo("R1")
		if err != nil {
			return false, err.Error()
		}
		return si.Cluster.Leader != holder && si.Cluster.Leader != "" && si.State.Msgs == n && len(si.Cluster.Replicas) == 0,
			fmt.Sprintf("leader %q, %d msgs, replicas %+v", si.Cluster.Leader, si.State.Msgs, si.Cluster.Replicas)
	})
}

// TestRemoveNotMember: removing a server that is not in the meta group is
// no error (already out).
func TestRemoveNotMember(t *testing.T) {
	servers := natstest.StartClusterWith(t, 3, natstest.WithSystemUser)
	waitMeta(t, servers)
	sys := connect(t, servers, natstest.SystemUser, natstest.SystemPassword)
	var err error
	natstest.WaitFor(t, "the removal answered", func() (bool, string) {
		err = natsadmin.Remove(context.Background(), sys, "n9")
		var ue *natsadmin.UnsupportedError
		return !errors.As(err, &ue), fmt.Sprint(err)
	})
	if err != nil {
		t.Errorf("remove n9: %v, want nil (not a member)", err)
	}
}

// TestUnsupported: a server without JetStream clustering does not answer;
// the error says the server does not know the request.
func TestUnsupported(t *testing.T) {
	s := natstest.StartServer(t, natstest.WithSystemUser)
	nc := connect(t, []*server.Server{s}, natstest.SystemUser, natstest.SystemPassword)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := natsadmin.Evacuate(ctx, nc, "n1")
	if !errors.Is(err, natsadmin.ErrUnsupported) || !strings.Contains(err.Error(), natsadmin.SubjectEvacuate) {
		t.Errorf("evacuate on a server that does not answer: %v", err)
	}
}
