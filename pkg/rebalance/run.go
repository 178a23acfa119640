package rebalance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/natsadmin"
	"github.com/natsops/natsops/pkg/progress"
)

// Defaults of Options' zero values.
const (
	DefaultWithin      = 0.20
	DefaultRounds      = 5
	DefaultMaxPerRound = 1000
	DefaultTimeout     = 30 * time.Second
	DefaultPoll        = 500 * time.Millisecond
)

// Admin is the cluster as the system account user sees it
// (natsadmin.Conn's requests).
type Admin interface {
	// Connections lists every server's client connections.
	Connections(ctx context.Context) ([]natsadmin.ServerConns, error)
	// Kick closes connection cid on server id.
	Kick(ctx context.Context, serverID string, cid uint64) error
	// Self is the admin's own connection (never closed).
	Self() (serverID string, cid uint64)
}

// Options tune a run; zero values are the defaults.
type Options struct {
	// Within is the tolerance, a fraction of even (0.2: ±20 %).
	Within float64
	// Rounds bounds how often connections are closed and read again.
	Rounds int
	// MaxPerRound bounds the connections closed in one round (the
	// reconnect burst the other nodes take at once).
	MaxPerRound int
	// Timeout bounds each round's wait for the closed clients to be back.
	Timeout time.Duration
	Poll    time.Duration
	// DryRun reads and plans the first round; it closes nothing.
	DryRun bool
}

func (o Options) withDefaults() Options {
	if o.Within <= 0 {
		o.Within = DefaultWithin
	}
	if o.Rounds <= 0 {
		o.Rounds = DefaultRounds
	}
	if o.MaxPerRound <= 0 {
		o.MaxPerRound = DefaultMaxPerRound
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	return o
}

// Config is one cluster's rebalance.
type Config struct {
	// Nodes are the cluster's node names (= their server names).
	Nodes []string
	// System names the cluster's system account when it is not $SYS
	// (server.auth.system_account): its connections are never moved.
	System string
	Admin  Admin
	// Check, when set, is asked before every round whether the cluster is
	// healthy enough to move clients (an error stops the run there).
	Check    func(ctx context.Context) error
	Clock    fleet.Clock
	Progress progress.Func
	// Events, when set, hears each round (Round).
	Events func(Round)
	Options
}

// Round is one round: the spread read, what was closed where, and how
// many closed clients were back when the wait ended.
type Round struct {
	Round int `json:"round"`
	// Spread is the reading the round planned from; After the one its
	// wait ended with.
	Spread Spread         `json:"spread"`
	After  Spread         `json:"after"`
	Closed map[string]int `json:"closed"`
	// Planned: a dry run's round (nothing closed).
	Planned bool `json:"planned,omitempty"`
	// Failed are closes the server refused (a client that left first).
	Failed int `json:"failed,omitempty"`
	// Back: the cluster's client count was back to what it was before
	// the round; Missing how many were not when the wait ended.
	Back     bool  `json:"back"`
	Missing  int   `json:"missing,omitempty"`
	WaitedMS int64 `json:"waited_ms"`
}

// Result is a run: the spread before and after, the band, the rounds.
type Result struct {
	Before Spread `json:"before"`
	After  Spread `json:"after"`
	// Within is the tolerance in percent; Low/High the band of counts.
	Within  float64 `json:"within_percent"`
	Low     int     `json:"low"`
	High    int     `json:"high"`
	Rounds  []Round `json:"rounds"`
	Closed  int     `json:"closed"`
	Reached bool    `json:"reached"`
	// Nothing says why there was nothing to do ("" when there was).
	Nothing string `json:"nothing_to_do,omitempty"`
}

// NotReachedError: the rounds ended with a node outside the band.
type NotReachedError struct{ Result *Result }

func (e *NotReachedError) Error() string {
	r := e.Result
	var out []string
	for _, c := range r.After.Nodes {
		if c.Clients < r.Low || c.Clients > r.High {
			out = append(out, fmt.Sprintf("%s %d", c.Node, c.Clients))
		}
	}
	return fmt.Sprintf("the clients are not within ±%g%% of even (%d–%d per node) after %s: %s; rerun natsops rebalance (more rounds: --rounds), or widen --within",
		r.Within, r.Low, r.High, text.Plural(len(r.Rounds), "round"), strings.Join(out, ", "))
}

// MissingError: a server of the cluster did not answer CONNZ.
type MissingError struct{ Nodes []string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s did not answer %s as the system user: its clients cannot be counted; natsops status shows why", strings.Join(e.Nodes, ", "), natsadmin.SubjectPingConnz)
}

// Run rebalances: read, and while a node is outside the band and rounds
// are left, close the excess and wait for the clients to be back. It
// returns the result on every path; the error is *NotReachedError when
// the band was not reached, *MissingError when a node did not answer, the
// Check's error, or ctx's.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	o := cfg.Options.withDefaults()
	clock := cfg.Clock
	if clock == nil {
		clock = fleet.RealClock{}
	}
	res := &Result{Within: o.Within * 100, Rounds: []Round{}}
	read := func() (Spread, map[string]natsadmin.ServerConns, error) {
		servers, err := cfg.Admin.Connections(ctx)
		if err != nil {
			return Spread{}, nil, err
		}
		byName := map[string]natsadmin.ServerConns{}
		counts := map[string]int{}
		for _, s := range servers {
			byName[s.Name] = s
			counts[s.Name] = len(Clients(s.Conns, cfg.System))
		}
		var missing []string
		for _, n := range cfg.Nodes {
			if _, ok := byName[n]; !ok {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return SpreadOf(cfg.Nodes, counts), byName, &MissingError{Nodes: missing}
		}
		return SpreadOf(cfg.Nodes, counts), byName, nil
	}
	if len(cfg.Nodes) < 2 {
		res.Nothing = fmt.Sprintf("the cluster has %s: there is no other node to move clients to", text.Plural(len(cfg.Nodes), "node"))
		res.Reached = true
		if len(cfg.Nodes) == 1 {
			if s, _, err := read(); err == nil {
				res.Before, res.After = s, s
			}
		}
		return res, nil
	}
	spread, servers, err := read()
	res.Before, res.After = spread, spread
	res.Low, res.High = spread.Band(o.Within)
	if err != nil {
		return res, err
	}
	if spread.Total == 0 {
		res.Nothing, res.Reached = "no client is connected", true
		return res, nil
	}
	if old := tooOld(servers); len(old) > 0 && !spread.Within(o.Within) {
		return res, &VersionError{Versions: old}
	}
	for i := 1; i <= o.Rounds && !spread.Within(o.Within); i++ {
		if cfg.Check != nil {
			if err := cfg.Check(ctx); err != nil {
				return res, err
			}
		}
		rd := Round{Round: i, Spread: spread, Closed: map[string]int{}}
		plan := Plan(spread, o.MaxPerRound)
		if o.DryRun {
			rd.Planned, rd.Closed = true, plan
			res.Rounds = append(res.Rounds, rd)
			emit(cfg, rd)
			return res, nil
		}
		selfServer, selfCID := cfg.Admin.Self()
		var kickErr error
		// The connections closed, by node: the wait below counts the
		// clients back only once none of them is listed any more (a read
		// just after the kick can still list a closed client, which is not
		// a client that came back).
		kicked := map[string][]uint64{}
		for _, node := range text.SortedKeys(plan) {
			s := servers[node]
			self := uint64(0)
			if s.ID == selfServer {
				self = selfCID
			}
			for _, c := range Pick(s.Conns, plan[node], self, cfg.System) {
				if err := cfg.Admin.Kick(ctx, s.ID, c.CID); err != nil {
					if ctx.Err() != nil {
						return res, ctx.Err()
					}
					if kickErr == nil {
						kickErr = fmt.Errorf("%s: %w", node, err)
					}
					rd.Failed++
					continue
				}
				rd.Closed[node]++
				res.Closed++
				kicked[node] = append(kicked[node], c.CID)
			}
		}
		if len(rd.Closed) == 0 && kickErr != nil {
			// Not one client closed: the servers refuse the request.
			res.Rounds = append(res.Rounds, rd)
			emit(cfg, rd)
			return res, fmt.Errorf("no client could be closed (%d refused): %w", rd.Failed, kickErr)
		}
		start := clock.Now()
		rd.Back, rd.Missing, spread, servers, err = waitBack(ctx, cfg, o, clock, spread.Total, kicked, read)
		rd.WaitedMS = clock.Now().Sub(start).Milliseconds()
		res.After, rd.After = spread, spread
		res.Rounds = append(res.Rounds, rd)
		emit(cfg, rd)
		if err != nil {
			return res, err
		}
		if stuck := cameBack(rd); len(stuck) > 0 {
			return res, &NoMoveError{Nodes: stuck}
		}
	}
	res.Reached = spread.Within(o.Within)
	if !res.Reached {
		return res, &NotReachedError{Result: res}
	}
	return res, nil
}

// cameBack is the nodes of a round whose closed clients all came back to
// them (every node it closed on holds at least as many as before), or
// none when any client moved.
func cameBack(r Round) []string {
	if !r.Back || len(r.Closed) == 0 {
		return nil
	}
	before, after := map[string]int{}, map[string]int{}
	for _, c := range r.Spread.Nodes {
		before[c.Node] = c.Clients
	}
	for _, c := range r.After.Nodes {
		after[c.Node] = c.Clients
	}
	var out []string
	for _, n := range text.SortedKeys(r.Closed) {
		if after[n] < before[n] {
			return nil
		}
		out = append(out, n)
	}
	return out
}

// NoMoveError: the clients closed in a round all reconnected to the node
// they were closed on: they know no other server.
type NoMoveError struct{ Nodes []string }

func (e *NoMoveError) Error() string {
	return fmt.Sprintf("the clients closed on %s reconnected to it: they know no other node's URL, so closing them again moves nothing; give the clients every node's URL (and keep the cluster advertising them: no cluster.no_advertise), then rerun natsops rebalance", strings.Join(e.Nodes, ", "))
}

// KickSince is the first nats-server version that closes a client on
// request ($SYS.REQ.SERVER.<id>.KICK, nats-server#4298).
const KickSince = "2.10.0"

// VersionError: servers too old to close a client on request.
type VersionError struct{ Versions map[string]string }

func (e *VersionError) Error() string {
	var parts []string
	for _, n := range text.SortedKeys(e.Versions) {
		parts = append(parts, n+" runs "+e.Versions[n])
	}
	return fmt.Sprintf("%s: nats-server closes a client on request ($SYS.REQ.SERVER.<id>.KICK) only since %s (nats-server#4298), so nothing was closed; upgrade the nodes (service.binary, natsops deploy), or move a node's clients by restarting it (natsops restart --node NAME)", strings.Join(parts, ", "), KickSince)
}

// tooOld is the servers (name: version) older than KickSince; a version
// that cannot be read is not held against the server.
func tooOld(servers map[string]natsadmin.ServerConns) map[string]string {
	out := map[string]string{}
	for name, s := range servers {
		if s.Version != "" && olderThan(s.Version, KickSince) {
			out[name] = s.Version
		}
	}
	return out
}

// olderThan compares the major.minor.patch of two versions ("2.9.10",
// "v2.10.0-beta.1": the pre-release suffix is ignored).
func olderThan(v, than string) bool {
	a, b := triple(v), triple(than)
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func triple(v string) [3]int {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	for i, p := range strings.SplitN(v, ".", 3) {
		n := 0
		for _, r := range p {
			if r < '0' || r > '9' {
				break
			}
			n = n*10 + int(r-'0')
		}
		out[i] = n
	}
	return out
}

func emit(cfg Config, r Round) {
	if cfg.Events != nil {
		cfg.Events(r)
	}
}

// waitBack polls until the cluster holds want clients again (the closed
// ones reconnected), bounded by o.Timeout, reporting progress; it
// returns the last reading.
func waitBack(ctx context.Context, cfg Config, o Options, clock fleet.Clock, want int, kicked map[string][]uint64, read func() (Spread, map[string]natsadmin.ServerConns, error)) (bool, int, Spread, map[string]natsadmin.ServerConns, error) {
	start := clock.Now()
	w := progress.Start(cfg.Progress, start, progress.Report{Waiting: "clients reconnecting", Limit: o.Timeout})
	for {
		spread, servers, err := read()
		var me *MissingError
		if err != nil && !errors.As(err, &me) {
			return false, 0, spread, servers, err
		}
		lingering := stillListed(servers, kicked)
		if err == nil && spread.Total >= want && lingering == 0 {
			return true, 0, spread, servers, nil
		}
		seen := fmt.Sprintf("%d of %d clients connected (%s)", spread.Total, want, counts(spread))
		if lingering > 0 {
			seen += fmt.Sprintf(", %d closed not gone yet", lingering)
		}
		if clock.Now().Sub(start) >= o.Timeout {
			// Clients that left for good, or a node that stopped
			// answering: the run goes on with what it reads.
			return false, max(0, want-spread.Total), spread, servers, err
		}
		w.Tick(clock.Now(), seen)
		if err := clock.Sleep(ctx, o.Poll); err != nil {
			return false, max(0, want-spread.Total), spread, servers, err
		}
	}
}

// stillListed counts the closed connections (kicked, by node) that their
// node still lists.
func stillListed(servers map[string]natsadmin.ServerConns, kicked map[string][]uint64) int {
	n := 0
	for node, cids := range kicked {
		listed := map[uint64]bool{}
		for _, c := range servers[node].Conns {
			listed[c.CID] = true
		}
		for _, cid := range cids {
			if listed[cid] {
				n++
			}
		}
	}
	return n
}

// counts is "n1 30, n2 31, n3 29".
func counts(s Spread) string {
	parts := make([]string, len(s.Nodes))
	for i, c := range s.Nodes {
		parts[i] = fmt.Sprintf("%s %d", c.Node, c.Clients)
	}
	return strings.Join(parts, ", ")
}

// Counts is the spread as one line: "n1 45, n2 45, n3 0 (even 30, 50% off)".
func Counts(s Spread) string {
	return fmt.Sprintf("%s (even %.1f, farthest %.1f%% off)", counts(s), s.Even, s.OffPercent)
}
