package monitor

import (
	"bytes"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestForeignListener: a NATS client port on the monitoring port (it
// greets with INFO) and another HTTP server are reported as not a
// nats-server monitoring endpoint, never a raw transport error, and
// nothing is logged (net/http logs an unsolicited greeting through the
// standard logger, which natsops's stderr would show).
func TestForeignListener(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("INFO {\"server_id\":\"NXYZ\",\"version\":\"2.15.2\",\"max_payload\":1048576}\r\n"))
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					c.Write([]byte("-ERR 'Unknown Protocol Operation'\r\n"))
				}
			}()
		}
	}()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Server", "SimpleHTTP/0.6 Python/3.11.2")
		w.WriteHeader(404)
		w.Write([]byte("<html>not found</html>"))
	}))
	t.Cleanup(web.Close)

	c := &Client{}
	for _, tc := range []struct{ url, want string }{
		{"http://" + ln.Addr().String(), "a NATS client port answers"},
		{web.URL, "an HTTP server answers HTTP 404 text/html (Server: SimpleHTTP/0.6 Python/3.11.2)"},
	} {
		for i := 0; i < 3; i++ {
			s := c.Snapshot(context.Background(), tc.url)
			if s.Varz != nil || s.Healthz != nil {
				t.Fatalf("%s: read as a monitoring endpoint: %+v", tc.url, s)
			}
			err := s.Errs["varz"]
			if !errors.Is(err, ErrNotMonitoring) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v\nwant ErrNotMonitoring with %q", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), "malformed") || strings.Contains(err.Error(), "transport") {
				t.Errorf("%s: a raw transport error: %v", tc.url, err)
			}
		}
	}
	if logged.Len() > 0 {
		t.Errorf("logged: %s", logged.String())
	}
}
