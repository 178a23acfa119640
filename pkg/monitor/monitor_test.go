package monitor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestNameRoutes(t *testing.T) {
	snaps := map[string]*Snapshot{
		"a": {Varz: &Varz{ServerID: "IDA", ServerName: "a"}, Routez: &Routez{Routes: []Route{{RemoteID: "IDB"}, {RemoteID: "IDB"}, {RemoteID: "IDX"}}}},
		"b": {Varz: &Varz{ServerID: "IDB", ServerName: "b"}, Routez: &Routez{Routes: []Route{{RemoteID: "IDA", RemoteName: "a"}}}},
		"c": nil,
	}
	NameRoutes(snaps)
	got := snaps["a"].Routez.Peers()
	if len(got) != 2 || got[0] != "b" || got[1] != "IDX" {
		t.Errorf("peers %v, want [b IDX]", got)
	}
}

// TestHealthzReasksOnlyTheSpuriousNotReady: nats-server's 1ms listener
// check can run out of time before it looks (a loaded host) and answer
// "failed to be ready for connections after 1ms: " with no listener named.
// That answer is asked again, a bounded number of times; a named listener
// failure is taken at its word on the first answer.
func TestHealthzReasksOnlyTheSpuriousNotReady(t *testing.T) {
	const spurious = `{"status":"error","status_code":500,"errors":[{"type":"CONNECTION","error":"failed to be ready for connections after 1ms: "}]}`
	const routeDown = `{"status":"error","status_code":500,"errors":[{"type":"CONNECTION","error":"failed to be ready for connections after 1ms: route"}]}`
	const ok = `{"status":"ok"}`
	for _, tc := range []struct {
		name     string
		answers  []string // the last one repeats
		wantOK   bool
		wantAsks int
	}{
		{"spurious twice, then ok", []string{spurious, spurious, ok}, true, 3},
		{"a named listener down", []string{routeDown, ok}, false, 1},
		{"spurious every time", []string{spurious}, false, spuriousRetries + 1},
		{"ok", []string{ok}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asks atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(asks.Add(1)) - 1
				body := tc.answers[min(i, len(tc.answers)-1)]
				if body != ok {
					w.WriteHeader(http.StatusInternalServerError)
				}
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			h, err := (&Client{}).Healthz(context.Background(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			if h.OK() != tc.wantOK || int(asks.Load()) != tc.wantAsks {
				t.Fatalf("ok %v after %d asks, want %v after %d: %+v", h.OK(), asks.Load(), tc.wantOK, tc.wantAsks, h)
			}
		})
	}
}
