package monitor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// serveFiles answers each path with the body of its testdata file (no
// such path: 404) and records the paths asked for.
func serveFiles(t *testing.T, files map[string]string) (*httptest.Server, func() []string) {
	t.Helper()
	bodies := map[string][]byte{}
	for path, file := range files {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		bodies[path] = b
	}
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := append([]string(nil), asked...)
		sort.Strings(out)
		return out
	}
}

// TestGatewayzOf2_9: Debian's 2.9.10 answers /gatewayz in the shape
// 2.15 does: the remote cluster's name keys its connections, the
// connection's name is the remote server's ID; a remote gone is absent.
func TestGatewayzOf2_9(t *testing.T) {
	srv, _ := serveFiles(t, map[string]string{
		"/gatewayz": "nats-server-2.9.10/gatewayz-a1.json",
	})
	g, err := (&Client{}).Gatewayz(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	const b1 = "NAMKKAHY56MF65V7DWZZTD4YBMWMBFDZKYMJRWCHYZ3DK667JDTKOWAH"
	out, in := g.OutboundGateways["B"], g.InboundGateways["B"]
	if g.Name != "A" || out == nil || out.Connection == nil || out.Connection.RemoteID != b1 || out.Connection.Port != 27223 || out.Connection.IP != "127.0.0.1" {
		t.Fatalf("outbound: %+v %+v", g, out)
	}
	if len(in) != 1 || in[0].Connection == nil || in[0].Connection.RemoteID != b1 {
		t.Fatalf("inbound: %+v", in)
	}
	for _, tc := range []struct{ file, name string }{
		{"gatewayz-a1-b-down.json", "A"},
		{"gatewayz-none-l1.json", ""},
	} {
		srv, _ := serveFiles(t, map[string]string{"/gatewayz": "nats-server-2.9.10/" + tc.file})
		g, err := (&Client{}).Gatewayz(context.Background(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if g.Name != tc.name || len(g.OutboundGateways) != 0 || len(g.InboundGateways) != 0 {
			t.Errorf("%s: %+v", tc.file, g)
		}
	}
}

// TestLeafzOf2_9: 2.9.10's /leafz has the account and the address but
// neither the remote's name nor is_spoke (nil: not said, not false), and
// null for no leafs.
func TestLeafzOf2_9(t *testing.T) {
	for _, tc := range []struct {
		file    string
		account string
		port    int
		n       int
	}{
		{"leafz-hub-a1.json", "APP", 37986, 1},
		{"leafz-leaf-l1.json", "$G", 27422, 1},
		{"leafz-none-b1.json", "", 0, 0},
	} {
		srv, _ := serveFiles(t, map[string]string{"/leafz": "nats-server-2.9.10/" + tc.file})
		l, err := (&Client{}).Leafz(context.Background(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Leafs) != tc.n || l.NumLeafs != tc.n {
			t.Fatalf("%s: %+v", tc.file, l)
		}
		if tc.n == 1 {
			if lf := l.Leafs[0]; lf.Account != tc.account || lf.Port != tc.port || lf.Name != "" || lf.IsSpoke != nil {
				t.Errorf("%s: %+v", tc.file, lf)
			}
		}
	}
}

// TestSnapshotAsksOnlyForWhatItNeeds: Snapshot reads the four endpoints
// it always did; SnapshotWith adds /gatewayz and /leafz when asked, and
// one that fails is an error of its own, not a failed snapshot.
func TestSnapshotAsksOnlyForWhatItNeeds(t *testing.T) {
	const ok = "nats-server-2.9.10/leafz-none-b1.json" // any JSON object will do
	srv, asked := serveFiles(t, map[string]string{
		"/healthz": ok, "/varz": ok, "/routez": ok, "/jsz": ok,
		"/gatewayz": "nats-server-2.9.10/gatewayz-a1.json",
	})
	c := &Client{}
	s := c.Snapshot(context.Background(), srv.URL)
	if got := strings.Join(asked(), " "); got != "/healthz /jsz /routez /varz" {
		t.Fatalf("Snapshot asked for %s", got)
	}
	if s.Gatewayz != nil || s.Leafz != nil || s.Err() != nil {
		t.Fatalf("Snapshot: %+v", s)
	}
	s = c.SnapshotWith(context.Background(), srv.URL, SnapshotOptions{Gateways: true, Leafs: true})
	if s.Gatewayz == nil || s.Gatewayz.Name != "A" {
		t.Errorf("gatewayz: %+v", s.Gatewayz)
	}
	if s.Leafz != nil || s.Errs["leafz"] == nil || !strings.Contains(s.Err().Error(), "HTTP 404") {
		t.Errorf("a /leafz that fails: %+v, %v", s.Leafz, s.Errs)
	}
	if s.Varz == nil || s.Routez == nil {
		t.Errorf("the four endpoints: %+v", s)
	}
}
