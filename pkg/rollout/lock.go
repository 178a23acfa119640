package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// Lock and state live on every node, so any operator's natsops sees them.
const (
	StateDir  = "/var/lib/natsops"
	LockPath  = StateDir + "/rollout.lock"
	StatePath = StateDir + "/rollout.state"
)

// A local node (connection = "local") keeps its lock and state next to its
// config file instead (config_path + these suffixes): several local nodes
// share one machine, so one /var/lib/natsops lock would make a rollout
// collide with itself, and their user (the demo's) may not be root.
const (
	LocalLockSuffix  = ".natsops-lock"
	LocalStateSuffix = ".natsops-state"
)

// statePaths is where one node keeps the rollout lock and state.
type statePaths struct{ dir, lock, state string }

func pathsFor(n *cluster.Node) statePaths {
	if n != nil && n.Connection == "local" {
		return statePaths{dir: filepath.Dir(n.Service.ConfigPath), lock: n.Service.ConfigPath + LocalLockSuffix, state: n.Service.ConfigPath + LocalStateSuffix}
	}
	return statePaths{dir: StateDir, lock: LockPath, state: StatePath}
}

// LockPathFor is the lock file of node n.
func LockPathFor(n *cluster.Node) string { return pathsFor(n).lock }

// LockInfo is the content of a node's lock file: who holds it.
type LockInfo struct {
	ID    string `json:"id"`
	Owner string `json:"owner"` // user@host
	PID   int    `json:"pid"`
	// PIDStart is the holder process's start time on its machine (clock
	// ticks since boot: /proc/PID/stat field 22), so a pid reused by
	// another process is not taken for the holder (0: unknown, as in a
	// lock written before natsops recorded it).
	PIDStart uint64    `json:"pid_start,omitempty"`
	Started  time.Time `json:"started"`
}

func (l LockInfo) String() string {
	return fmt.Sprintf("%s (pid %d, since %s, rollout %s)", l.Owner, l.PID, l.Started.UTC().Format(time.RFC3339), l.ID)
}

// State is what a rollout records on the nodes so that a rerun of the
// same operation can resume it: the operation (command and plan), when it
// started, the nodes it confirmed done (with the server start each had
// then) and the node it is working on (so that check reports that node
// in maintenance). It is rewritten before and after every node and
// removed when the rollout completes.
type State struct {
	ID        string               `json:"id"`
	Operation string               `json:"operation"`
	Owner     string               `json:"owner"`
	Started   time.Time            `json:"started"`
	Mode      service.Mode         `json:"mode"`
	Done      map[string]time.Time `json:"done"`
	// Current is the node being changed ("" between nodes), since
	// CurrentSince.
	Current      string    `json:"current,omitempty"`
	CurrentSince time.Time `json:"current_since,omitzero"`
}

// LockHeldError: another rollout holds the lock.
type LockHeldError struct {
	Node   string
	Holder LockInfo
	Raw    string
	// Path is the lock file (LockPath unless the node is local).
	Path string
	// Stale: the holder's process is gone (same machine) or the lock is
	// older than StaleAfter.
	Stale bool
	// Dead: the holder ran on this machine and its process is provably
	// gone (its pid runs no more, or runs a process started at another
	// time).
	Dead bool
	// Command is the natsops command that met the lock ("" when it has
	// no --break-lock: the advice then names the file to remove).
	Command string
}

func (e *LockHeldError) Error() string {
	who := e.Holder.String()
	if e.Holder.Owner == "" {
		who = fmt.Sprintf("%q", strings.TrimSpace(e.Raw))
	}
	path := e.Path
	if path == "" {
		path = LockPath
	}
	brk := fmt.Sprintf("rerun natsops %s with --break-lock", e.Command)
	if e.Command == "" {
		brk = fmt.Sprintf("remove %s on %s", path, e.Node)
	}
	if e.Dead {
		return fmt.Sprintf("%s: the rollout lock %s is held by pid %d on this machine, which is no longer running (%s): %s", e.Node, path, e.Holder.PID, who, brk)
	}
	if e.Stale {
		return fmt.Sprintf("%s: a stale rollout lock %s is held by %s; if that rollout is not running, %s", e.Node, path, who, brk)
	}
	return fmt.Sprintf("%s: another rollout holds the lock %s: %s; wait for it to finish, or if it is dead, %s", e.Node, path, who, brk)
}

// StaleAfter: a lock older than this is reported stale.
const StaleAfter = time.Hour

// lockScript creates the lock atomically (noclobber: O_EXCL) or prints
// the holder's lock.
func lockScript(info []byte, breakLock bool, p statePaths) string {
	var b strings.Builder
	fmt.Fprintf(&b, "umask 022\nmkdir -p %s\n", remote.Quote(p.dir))
	if breakLock {
		fmt.Fprintf(&b, "rm -f %s\n", remote.Quote(p.lock))
	}
	fmt.Fprintf(&b, "if ( set -C; printf '%%s\\n' %s > %s ) 2>/dev/null; then echo natsops:locked; cat %s 2>/dev/null || true; else echo natsops:held; cat %s; fi\n",
		remote.Quote(string(info)), remote.Quote(p.lock), remote.Quote(p.state), remote.Quote(p.lock))
	return b.String()
}

// unlockScript removes the lock only if it is still ours; finished also
// removes the recorded state (the rollout completed: nothing to resume).
func unlockScript(id string, finished bool, p statePaths) string {
	lock := remote.Quote(p.lock)
	s := fmt.Sprintf("if grep -q %s %s 2>/dev/null; then rm -f %s; fi", remote.Quote(`"id":"`+id+`"`), lock, lock)
	if finished {
		s = "rm -f " + remote.Quote(p.state) + " " + remote.Quote(p.state+remote.BackupSuffix) + "; " + s
	}
	return s
}

// locker is a rollout's lock and state files on every host.
type locker struct {
	hosts  map[string]remote.Host
	byName map[string]*cluster.Node
	clock  fleet.Clock
	// info is what the lock says of this rollout.
	info         LockInfo
	breakLock    bool
	command      string
	processAlive func(pid int) bool
	processStart func(pid int) (uint64, bool)
	// locked are the hosts whose lock is taken; finished: the rollout
	// completed, so the release removes the state too.
	locked   []string
	finished bool
}

func newLocker(e *env, byName map[string]*cluster.Node, info LockInfo) *locker {
	if e.opts.ProcessStart != nil && info.PID > 0 {
		info.PIDStart, _ = e.opts.ProcessStart(info.PID)
	}
	return &locker{hosts: e.hosts, byName: byName, clock: e.clock, info: info, breakLock: e.opts.BreakLock, command: e.command,
		processAlive: e.opts.ProcessAlive, processStart: e.opts.ProcessStart}
}

// foundState is a stopped rollout's state, read with the lock, and the
// node it was read on.
type foundState struct {
	state *State
	from  string
}

// acquire takes the lock on every host at once and reads the recorded
// state of a stopped rollout with it (one round trip per host). If any
// host's lock is held, the ones taken are released and the holder (first
// by node name) is the error.
func (l *locker) acquire(ctx context.Context) (*foundState, error) {
	info, _ := json.Marshal(l.info)
	outs, errs := l.lockAll(ctx, info)
	var taken []string
	var found *foundState
	var fail error
	for _, name := range text.SortedKeys(l.hosts) {
		out, err := outs[name], errs[name]
		switch {
		case err != nil:
			if fail == nil {
				fail = fmt.Errorf("%s: cannot take the rollout lock: %w", name, err)
			}
		case strings.HasPrefix(out, "natsops:held"):
			if _, already := fail.(*LockHeldError); fail == nil || !already {
				raw := strings.TrimSpace(strings.TrimPrefix(out, "natsops:held"))
				held := &LockHeldError{Node: name, Raw: raw, Path: pathsFor(l.byName[name]).lock, Command: l.command}
				_ = json.Unmarshal([]byte(raw), &held.Holder)
				held.Dead = l.dead(held.Holder)
				held.Stale = held.Dead || l.stale(held.Holder)
				fail = held
			}
		case strings.HasPrefix(out, "natsops:locked"):
			taken = append(taken, name)
			if st := strings.TrimSpace(strings.TrimPrefix(out, "natsops:locked")); st != "" && found == nil {
				var s State
				if json.Unmarshal([]byte(st), &s) == nil && s.ID != "" {
					found = &foundState{state: &s, from: name}
				}
			}
		default:
			if fail == nil {
				fail = fmt.Errorf("%s: take the rollout lock: unexpected output %q", name, out)
			}
		}
	}
	if fail != nil {
		l.release(taken)
		return nil, fail
	}
	l.locked = taken
	return found, nil
}

// lockAll runs the lock script on every host at once: what each printed,
// or why it could not.
func (l *locker) lockAll(ctx context.Context, info []byte) (map[string]string, map[string]error) {
	outs, errs := map[string]string{}, map[string]error{}
	var mu sync.Mutex
	eachHost(l.hosts, func(name string, h remote.Host) {
		res, err := h.Run(ctx, lockScript(info, l.breakLock, pathsFor(l.byName[name])), remote.RunOptions{Sudo: true})
		if err == nil {
			err = res.Err(h, "take the rollout lock")
		}
		out := ""
		if res != nil {
			out = strings.TrimSpace(string(res.Stdout))
		}
		mu.Lock()
		outs[name], errs[name] = out, err
		mu.Unlock()
	})
	return outs, errs
}

// eachHost runs fn for every host at once and waits.
func eachHost(hosts map[string]remote.Host, fn func(name string, h remote.Host)) {
	var wg sync.WaitGroup
	for name, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(name, h)
		}()
	}
	wg.Wait()
}

// stale: the lock of holder h is left by a rollout that is gone.
func (l *locker) stale(h LockInfo) bool {
	if h.Owner == "" {
		return true
	}
	if !h.Started.IsZero() && l.clock.Now().Sub(h.Started) > StaleAfter {
		return true
	}
	return false
}

// dead: the lock of holder h was taken on this machine (the host of its
// owner is ours) by a process that is gone: its pid does not run, or
// runs a process that started at another time than the holder.
func (l *locker) dead(h LockInfo) bool {
	if h.PID <= 0 || h.Owner == "" || hostOf(h.Owner) != hostOf(l.info.Owner) || hostOf(h.Owner) == "" {
		return false
	}
	if l.processStart != nil {
		start, running := l.processStart(h.PID)
		if !running {
			return true
		}
		return h.PIDStart != 0 && start != 0 && start != h.PIDStart
	}
	return l.processAlive != nil && !l.processAlive(h.PID)
}

// hostOf is the host of an owner user@host.
func hostOf(owner string) string {
	if i := strings.LastIndexByte(owner, '@'); i >= 0 {
		return owner[i+1:]
	}
	return ""
}

// release drops our lock on the named hosts, whatever ctx says (also
// after Ctrl-C).
func (l *locker) release(names []string) {
	hosts := l.hosts
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sel := map[string]remote.Host{}
	for _, n := range names {
		if h := hosts[n]; h != nil {
			sel[n] = h
		}
	}
	eachHost(sel, func(name string, h remote.Host) {
		_, _ = h.Run(ctx, unlockScript(l.info.ID, l.finished, pathsFor(l.byName[name])), remote.RunOptions{Sudo: true})
	})
}

// where names the lock files taken (one path on SSH hosts).
func (l *locker) where() string {
	var out []string
	for _, name := range l.locked {
		if p := pathsFor(l.byName[name]).lock; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

// writeState records the rollout's state st on every host, also after
// Ctrl-C (a node confirmed done must be recorded, or a rerun does it
// again).
func (l *locker) writeState(ctx context.Context, st *State) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	hosts := l.hosts
	data, _ := json.Marshal(st)
	data = append(data, '\n')
	errs := map[string]error{}
	var mu sync.Mutex
	eachHost(hosts, func(name string, h remote.Host) {
		_, err := remote.Install(ctx, h, remote.File{Path: pathsFor(l.byName[name]).state, Data: data, Mode: 0o644}, true)
		mu.Lock()
		errs[name] = err
		mu.Unlock()
	})
	for _, name := range text.SortedKeys(hosts) {
		if err := errs[name]; err != nil {
			return fmt.Errorf("%s: record rollout state: %w", name, err)
		}
	}
	return nil
}

// Held is what a cluster's lock and state files say of the rollout that
// holds the lock: who (the lock), the operation, the nodes done and the
// node it works on (the state), and the node they were read on.
type Held struct {
	Lock LockInfo
	// Raw is the lock file's content when it is not natsops's JSON.
	Raw   string
	State *State
	From  string
	// Stale: the lock is older than StaleAfter (or unreadable): its
	// rollout is probably gone.
	Stale bool
}

// readHeldScript prints a node's lock and, after a marker, its state.
func readHeldScript(p statePaths) string {
	return fmt.Sprintf("cat %s 2>/dev/null; echo natsops:state; cat %s 2>/dev/null; true", remote.Quote(p.lock), remote.Quote(p.state))
}

// ReadHeld reads the rollout lock and state on the nodes' hosts (through
// connect) at once: the first by node name whose lock is held, or nil
// when no reachable host has one (a host that cannot be read is left
// out: its own reading says why). now judges staleness.
func ReadHeld(ctx context.Context, nodes []*cluster.Node, connect func(context.Context, *cluster.Node) (remote.Host, error), now time.Time) *Held {
	outs := make([]string, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := connect(ctx, n)
			if err != nil {
				return
			}
			defer h.Close()
			res, err := h.Run(ctx, readHeldScript(pathsFor(n)), remote.RunOptions{Sudo: true})
			if err == nil && res.ExitCode == 0 {
				outs[i] = string(res.Stdout)
			}
		}()
	}
	wg.Wait()
	order := make([]int, len(nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(nodes[a].Name, nodes[b].Name) })
	for _, i := range order {
		if held := parseHeld(outs[i], now); held != nil {
			held.From = nodes[i].Name
			return held
		}
	}
	return nil
}

// parseHeld reads readHeldScript's output: nil when no lock is held.
func parseHeld(out string, now time.Time) *Held {
	lock, state, ok := strings.Cut(out, "natsops:state")
	lock = strings.TrimSpace(lock)
	if !ok || lock == "" {
		return nil
	}
	h := &Held{}
	if json.Unmarshal([]byte(lock), &h.Lock) != nil || h.Lock.Owner == "" {
		h.Lock, h.Raw, h.Stale = LockInfo{}, lock, true
	}
	var st State
	if s := strings.TrimSpace(state); s != "" && json.Unmarshal([]byte(s), &st) == nil && st.ID != "" {
		h.State = &st
	}
	if !h.Lock.Started.IsZero() && now.Sub(h.Lock.Started) > StaleAfter {
		h.Stale = true
	}
	return h
}
