package bench

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsops/natsops/internal/natstest"
	"github.com/natsops/natsops/pkg/monitor"
)

// TestPubSubCompleteOverACluster: 2 publishers, 50 subscribers spread
// over a real 3-node cluster, 200 messages: every subscriber gets every
// message, the rates and the latency sample are there, no slow consumer.
func TestPubSubCompleteOverACluster(t *testing.T) {
	servers := natstest.StartCluster(t, 3)
	var ts []Target
	for i, s := range servers {
		ts = append(ts, targetOf([]string{"n1", "n2", "n3"}[i], s))
	}
	res, err := PubSub(context.Background(), PubSubOptions{
		Targets: ts, Pubs: 2, Subs: 50, Msgs: 200, Size: 128, Subject: DefaultSubject(), Monitor: &monitor.Client{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || res.Subscribers != 50 || res.Deliveries != 50*200 || res.Expected != 50*200 || res.Short != 0 || res.Extra != 0 {
		t.Fatalf("not complete: %+v", res)
	}
	if res.PublishRate <= 0 || res.DeliveryRate <= 0 || res.Latency.Samples != 50*200 || res.SlowConsumers != 0 || len(res.Nodes) != 3 {
		t.Errorf("result %+v", res)
	}
	for i, s := range servers {
		natstest.WaitFor(t, "every connection closed", func() (bool, string) { return s.NumClients() == 0, ts[i].Node })
	}
}

// TestPubSubRefusals: --size above max_payload names the limit before
// anything connects; a wrong password names the user only.
func TestPubSubRefusals(t *testing.T) {
	s := natstest.StartServer(t, func(o *server.Options) {
		o.MaxPayload = 1024
		o.Username, o.Password = "bench", "s3cret"
	})
	ts := []Target{targetOf("n1", s)}
	_, err := PubSub(context.Background(), PubSubOptions{Targets: ts, Pubs: 1, Subs: 1, Msgs: 1, Size: 2048, Subject: "x", Monitor: &monitor.Client{}})
	var le *LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "max_payload of 1024") {
		t.Fatalf("size: %v", err)
	}
	_, err = PubSub(context.Background(), PubSubOptions{Targets: ts, Auth: Auth{User: "bench", Password: "wrong-pw"}, Pubs: 1, Subs: 1, Msgs: 1, Size: 16, Subject: "x", Monitor: &monitor.Client{}})
	var ae *AuthError
	if !errors.As(err, &ae) || strings.Contains(err.Error(), "wrong-pw") || !strings.Contains(err.Error(), "user bench") {
		t.Fatalf("auth: %v", err)
	}
	res, err := PubSub(context.Background(), PubSubOptions{Targets: ts, Auth: Auth{User: "bench", Password: "s3cret"}, Pubs: 1, Subs: 3, Msgs: 10, Size: 4, Subject: "x", Monitor: &monitor.Client{}})
	if err != nil || !res.Complete || res.Latency.Samples != 0 {
		t.Fatalf("tiny payload (no room for a timestamp): %+v %v", res, err)
	}
}
