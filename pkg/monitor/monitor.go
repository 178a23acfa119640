// Package monitor reads a nats-server's HTTP monitoring endpoint (:8222):
// /healthz, /varz, /routez and /jsz, and on request the supercluster's
// /gatewayz and /leafz. It decodes only the fields natsops
// decides on, tolerantly, so it reads every server version the fleet may
// run (Debian's 2.9 as well as 2.15).
//
// It fetches and decodes; it does not judge. Whether a node is back or a
// cluster healthy is decided by pure functions in pkg/health.
package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Healthz is /healthz?details=true. Status is "ok", "error" (500: not
// ready, also during lame duck) or "unavailable" (503: JetStream not
// current).
type Healthz struct {
	Status     string        `json:"status"`
	StatusCode int           `json:"status_code,omitempty"`
	Error      string        `json:"error,omitempty"`
	Errors     []HealthError `json:"errors,omitempty"`
	// HTTPStatus is the response code.
	HTTPStatus int `json:"-"`
}

// HealthError is one reason /healthz is not ok.
type HealthError struct {
	Type  any    `json:"type"`
	Error string `json:"error"`
}

// OK reports a fully healthy server.
func (h *Healthz) OK() bool { return h != nil && h.HTTPStatus == http.StatusOK && h.Status == "ok" }

// Reasons lists every error the server gave.
func (h *Healthz) Reasons() []string {
	var out []string
	if h.Error != "" {
		out = append(out, h.Error)
	}
	for _, e := range h.Errors {
		if e.Error != "" && e.Error != h.Error {
			out = append(out, e.Error)
		}
	}
	if len(out) == 0 && h.Status != "ok" {
		out = append(out, fmt.Sprintf("status %q (HTTP %d)", h.Status, h.HTTPStatus))
	}
	return out
}

// Varz is the part of /varz natsops uses. Durations are nanoseconds.
type Varz struct {
	ServerID       string    `json:"server_id"`
	ServerName     string    `json:"server_name"`
	Version        string    `json:"version"`
	Start          time.Time `json:"start"`
	Now            time.Time `json:"now"`
	Uptime         string    `json:"uptime"`
	ConfigLoadTime time.Time `json:"config_load_time"`
	// ConfigDigest is the digest of the config the server loaded
	// (2.11 and later; "" before).
	ConfigDigest   string        `json:"config_digest"`
	Connections    int           `json:"connections"`
	MaxConnections int           `json:"max_connections"`
	SlowConsumers  int64         `json:"slow_consumers"`
	Mem            int64         `json:"mem"`
	CPU            float64       `json:"cpu"`
	Routes         int           `json:"routes"`
	MaxPayload     int64         `json:"max_payload"`
	WriteDeadline  time.Duration `json:"write_deadline"`
	PingInterval   time.Duration `json:"ping_interval"`
	Cluster        struct {
		Name string `json:"name"`
	} `json:"cluster"`
}

// Routez is /routez. NumRoutes counts pooled connections (a 3-node
// JetStream cluster showed 8): count peers with Peers instead.
type Routez struct {
	ServerID   string  `json:"server_id"`
	ServerName string  `json:"server_name"`
	NumRoutes  int     `json:"num_routes"`
	Routes     []Route `json:"routes"`
}

// Route is one route connection.
type Route struct {
	RemoteID   string `json:"remote_id"`
	RemoteName string `json:"remote_name"`
	IP         string `json:"ip"`
	Port       int    `json:"port"`
}

// Peers returns the distinct peers this server has routes to, by name
// (the server_name natsops sets to the node name; the ID when a server has
// no name).
func (r *Routez) Peers() []string {
	seen := map[string]bool{}
	var out []string
	for _, rt := range r.Routes {
		name := rt.RemoteName
		if name == "" {
			name = rt.RemoteID
		}
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// Jsz is the part of /jsz natsops uses. Meta replicas' Current and Lag
// are only meaningful on the meta leader.
type Jsz struct {
	ServerID string       `json:"server_id"`
	Disabled bool         `json:"disabled,omitempty"`
	Meta     *MetaCluster `json:"meta_cluster,omitempty"`
	// Memory and Store are the bytes JetStream uses in memory and on
	// disk; Config's MaxMemory and MaxStore are the server's limits
	// (jetstream { max_memory_store, max_file_store }, or what it
	// derived from the machine); Reserved*: what streams with limits
	// have reserved of them.
	Memory         uint64    `json:"memory"`
	Store          uint64    `json:"storage"`
	ReservedMemory uint64    `json:"reserved_memory"`
	ReservedStore  uint64    `json:"reserved_storage"`
	Config         JSZConfig `json:"config"`
}

// JSZConfig is the part of /jsz's config natsops uses: the limits.
type JSZConfig struct {
	MaxMemory int64 `json:"max_memory"`
	MaxStore  int64 `json:"max_storage"`
}

// MetaCluster is the JetStream meta group as one server sees it.
type MetaCluster struct {
	Name     string        `json:"name,omitempty"`
	Leader   string        `json:"leader,omitempty"`
	Replicas []MetaReplica `json:"replicas,omitempty"`
	Size     int           `json:"cluster_size"`
}

// MetaReplica is one meta group peer as the reporting server sees it.
type MetaReplica struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	Lag     uint64 `json:"lag,omitempty"`
	// Active is how long ago the reporting server last heard from it
	// (0 when never).
	Active time.Duration `json:"active,omitempty"`
}

// Snapshot is one server's four endpoints read together, and the ones
// SnapshotOptions asked for; an endpoint that failed has its error in
// Errs (keyed by its name: "healthz", "gatewayz") and a nil value.
type Snapshot struct {
	URL     string
	At      time.Time
	Healthz *Healthz
	Varz    *Varz
	Routez  *Routez
	Jsz     *Jsz
	// Gatewayz and Leafz are nil unless asked for (SnapshotWith).
	Gatewayz *Gatewayz
	Leafz    *Leafz
	Errs     map[string]error
}

// Err is the first fetch error (unreachable server), or nil.
func (s *Snapshot) Err() error {
	for _, ep := range []string{"healthz", "varz", "routez", "jsz", "gatewayz", "leafz"} {
		if err := s.Errs[ep]; err != nil {
			return err
		}
	}
	return nil
}

// Client fetches monitoring endpoints. The zero value uses a client with
// a short timeout: a health poll must never hang a rollout.
type Client struct {
	HTTP *http.Client
	// Now is the clock (injected for tests); nil means time.Now.
	Now func() time.Time

	once sync.Once
	def  *http.Client
}

// ErrNotMonitoring: something answers on the port, but not nats-server's
// monitoring endpoint (a NATS client port, another HTTP server).
var ErrNotMonitoring = errors.New("not a nats-server monitoring endpoint")

// NotMonitoringError says what answered instead of nats-server's
// monitoring endpoint; it is ErrNotMonitoring.
type NotMonitoringError struct {
	// What answered: "a NATS client port (it greets with INFO)", or the
	// HTTP status and content type of another HTTP server.
	What string
}

func (e *NotMonitoringError) Error() string { return ErrNotMonitoring.Error() + ": " + e.What }

// Is makes errors.Is(err, ErrNotMonitoring) true.
func (e *NotMonitoringError) Is(target error) bool { return target == ErrNotMonitoring }

// listenFirst is a connection whose reads wait for its first write. A
// server that speaks first (a NATS client port greets every connection
// with INFO) would otherwise be read by net/http's connection reader
// before the request is sent, which it logs through the standard logger
// ("Unsolicited response received on idle HTTP channel") to stderr; held
// back, the greeting is read as the answer to the request and reported
// (NotMonitoringError).
type listenFirst struct {
	net.Conn
	wrote chan struct{}
	once  sync.Once
}

func (c *listenFirst) Write(b []byte) (int, error) {
	c.once.Do(func() { close(c.wrote) })
	return c.Conn.Write(b)
}

func (c *listenFirst) Read(b []byte) (int, error) {
	<-c.wrote
	return c.Conn.Read(b)
}

func (c *listenFirst) Close() error {
	c.once.Do(func() { close(c.wrote) })
	return c.Conn.Close()
}

// newHTTPClient is the zero Client's HTTP client: a transport of its own
// whose connections listen only after they spoke (listenFirst).
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &listenFirst{Conn: c, wrote: make(chan struct{})}, nil
	}
	return &http.Client{Timeout: DefaultTimeout, Transport: tr}
}

// foreign words a transport error that shows another protocol answered.
func foreign(err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "malformed HTTP") {
		return nil
	}
	if strings.Contains(msg, "INFO") || strings.Contains(msg, "server_id") {
		return &NotMonitoringError{What: "a NATS client port answers (it greets with INFO): the port in the inventory's http_port is another server's client port"}
	}
	return &NotMonitoringError{What: "a server that does not speak HTTP answers"}
}

// DefaultTimeout bounds one request.
const DefaultTimeout = 2 * time.Second

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	c.once.Do(func() { c.def = newHTTPClient() })
	return c.def
}

// get decodes base+path into v; non-2xx answers are returned with their
// status so /healthz's 500/503 bodies are still read.
func (c *Client) get(ctx context.Context, base, path string, v any) (int, error) {
	return c.getLimit(ctx, base, path, v, 8<<20)
}

func (c *Client) getLimit(ctx context.Context, base, path string, v any, limit int64) (int, error) {
	url := strings.TrimSuffix(base, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		if fe := foreign(err); fe != nil {
			return 0, fmt.Errorf("GET %s: %w", url, fe)
		}
		return 0, fmt.Errorf("GET %s: %w", url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: %w", url, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		// Another HTTP server (nats-server's endpoints all answer JSON).
		what := fmt.Sprintf("an HTTP server answers HTTP %d", resp.StatusCode)
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			what += " " + ct
		}
		if sv := resp.Header.Get("Server"); sv != "" {
			what += " (Server: " + sv + ")"
		}
		return 0, fmt.Errorf("GET %s: %w, not JSON: %.60q", url, &NotMonitoringError{What: what}, body)
	}
	return resp.StatusCode, nil
}

func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// Healthz reads /healthz?details=true (the full check: JetStream included;
// js-enabled-only answers ok before the node is really back).
//
// An answer whose only complaint is a listener check that never ran (see
// spuriousNotReady) is asked again, up to spuriousRetries times: on a
// loaded host nats-server gives it about a healthy server.
func (c *Client) Healthz(ctx context.Context, base string) (*Healthz, error) {
	for i := 0; ; i++ {
		h, err := c.healthzOnce(ctx, base)
		if err != nil || i == spuriousRetries || !spuriousNotReady(h) || ctx.Err() != nil {
			return h, err
		}
	}
}

// spuriousRetries bounds how often a spurious not-ready answer is re-asked.
const spuriousRetries = 3

// spuriousNotReady reports an answer that fails only because nats-server's
// readyForConnections(1ms) ran out of time before its first look at the
// listeners: when more than a millisecond passes between taking the
// deadline and the loop (a starved CPU, a GC pause), no listener is checked
// and the error lists none ("failed to be ready for connections after
// 1ms: "). A listener really down is named in that list, so only the empty
// list is re-asked.
func spuriousNotReady(h *Healthz) bool {
	if h == nil || h.OK() {
		return false
	}
	reasons := h.Reasons()
	if len(reasons) == 0 {
		return false
	}
	for _, r := range reasons {
		if !strings.HasPrefix(r, "failed to be ready for connections after ") || !strings.HasSuffix(r, ": ") {
			return false
		}
	}
	return true
}

func (c *Client) healthzOnce(ctx context.Context, base string) (*Healthz, error) {
	h := &Healthz{}
	code, err := c.get(ctx, base, "/healthz?details=true", h)
	if err != nil && code == 0 {
		return nil, err
	}
	h.HTTPStatus = code
	if err != nil && h.Status == "" {
		h.Status = "error"
		h.Error = err.Error()
	}
	return h, nil
}

// Varz reads /varz.
func (c *Client) Varz(ctx context.Context, base string) (*Varz, error) {
	v := &Varz{}
	if err := okOnly(c.get(ctx, base, "/varz", v)); err != nil {
		return nil, err
	}
	return v, nil
}

// Routez reads /routez.
func (c *Client) Routez(ctx context.Context, base string) (*Routez, error) {
	r := &Routez{}
	if err := okOnly(c.get(ctx, base, "/routez", r)); err != nil {
		return nil, err
	}
	return r, nil
}

// Jsz reads /jsz.
func (c *Client) Jsz(ctx context.Context, base string) (*Jsz, error) {
	j := &Jsz{}
	if err := okOnly(c.get(ctx, base, "/jsz", j)); err != nil {
		return nil, err
	}
	return j, nil
}

func okOnly(code int, err error) error {
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("HTTP %d", code)
	}
	return nil
}

// Snapshot reads all four endpoints at once.
func (c *Client) Snapshot(ctx context.Context, base string) *Snapshot {
	return c.SnapshotWith(ctx, base, SnapshotOptions{})
}

// SnapshotOptions adds endpoints to a Snapshot. The zero value reads the
// four every node needs; a single cluster asks for nothing more, so its
// polls cost what they did.
type SnapshotOptions struct {
	// Gateways reads /gatewayz (a cluster of a supercluster).
	Gateways bool
	// Leafs reads /leafz (a hub, or a leaf node).
	Leafs bool
}

// SnapshotWith reads the four endpoints and the ones o asks for, at once.
func (c *Client) SnapshotWith(ctx context.Context, base string, o SnapshotOptions) *Snapshot {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	s := &Snapshot{URL: base, At: now(), Errs: map[string]error{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	fetch := func(name string, f func() error) {
		defer wg.Done()
		if err := f(); err != nil {
			mu.Lock()
			s.Errs[name] = err
			mu.Unlock()
		}
	}
	wg.Add(4)
	go fetch("healthz", func() (err error) { s.Healthz, err = c.Healthz(ctx, base); return })
	go fetch("varz", func() (err error) { s.Varz, err = c.Varz(ctx, base); return })
	go fetch("routez", func() (err error) { s.Routez, err = c.Routez(ctx, base); return })
	go fetch("jsz", func() (err error) { s.Jsz, err = c.Jsz(ctx, base); return })
	if o.Gateways {
		wg.Add(1)
		go fetch("gatewayz", func() (err error) { s.Gatewayz, err = c.Gatewayz(ctx, base); return })
	}
	if o.Leafs {
		wg.Add(1)
		go fetch("leafz", func() (err error) { s.Leafz, err = c.Leafz(ctx, base); return })
	}
	wg.Wait()
	return s
}

// NameRoutes fills in RemoteName of routes that carry only the peer's
// server ID (nats-server 2.9's /routez has no remote_name), from the
// server_id -> server_name of the other snapshots' /varz. Peers not among
// snaps keep their ID.
func NameRoutes(snaps map[string]*Snapshot) {
	names := map[string]string{}
	for _, s := range snaps {
		if s != nil && s.Varz != nil && s.Varz.ServerID != "" && s.Varz.ServerName != "" {
			names[s.Varz.ServerID] = s.Varz.ServerName
		}
	}
	for _, s := range snaps {
		if s == nil || s.Routez == nil {
			continue
		}
		for i, rt := range s.Routez.Routes {
			if rt.RemoteName == "" {
				if n, ok := names[rt.RemoteID]; ok {
					s.Routez.Routes[i].RemoteName = n
				}
			}
		}
	}
}
