package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// Where a node keeps its audit log.
const (
	NodeDir  = "/var/log/natsops"
	NodePath = NodeDir + "/audit.jsonl"
	// LocalNodeSuffix: a `connection = "local"` node (the demo's, the
	// test clusters') keeps its log next to its config, as it does the
	// rollout lock (rollout.LocalLockSuffix): several share one machine,
	// and their user need not be root.
	LocalNodeSuffix = ".natsops-audit.jsonl"
)

// PathFor is node n's audit log on its host.
func PathFor(n *cluster.Node) string {
	if n.Connection == "local" {
		return n.Service.ConfigPath + LocalNodeSuffix
	}
	return NodePath
}

// EnvLog names the operator's log instead of the state directory's (CI).
const EnvLog = "NATSOPS_AUDIT_LOG"

// LocalPath is the operator's audit log: $NATSOPS_AUDIT_LOG, else
// $XDG_STATE_HOME/natsops/audit.jsonl, else
// HOME/.local/state/natsops/audit.jsonl; "" when none is known.
func LocalPath(getenv func(string) (string, bool), home string) string {
	if v, ok := getenv(EnvLog); ok && v != "" {
		return v
	}
	if v, ok := getenv("XDG_STATE_HOME"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "natsops", "audit.jsonl")
	}
	if v, ok := getenv("HOME"); ok && v != "" {
		home = v
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "state", "natsops", "audit.jsonl")
}

// appendScript appends stdin to path in one write(2) with O_APPEND (dd
// with a block larger than the line, reading it whole first), creating
// its directory 0750 and the file 0640 when missing.
func appendScript(path string) string {
	return "umask 027 && mkdir -p -m 0750 " + remote.Quote(filepath.Dir(path)) +
		" && dd of=" + remote.Quote(path) + " oflag=append conv=notrunc iflag=fullblock bs=" + strconv.Itoa(MaxNodeLine+96) + " count=1 status=none"
}

// AppendNode appends one record line to node n's log through h (as root).
func AppendNode(ctx context.Context, h remote.Host, n *cluster.Node, line []byte) error {
	_, err := remote.Script(ctx, h, "append to "+PathFor(n), appendScript(PathFor(n)), remote.RunOptions{Sudo: true, Stdin: line})
	return err
}

// AppendLocal appends one record line to the operator's log at path
// (directory 0700 and file 0600 when created), in one write.
func AppendLocal(path string, line []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(line)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// ReadLocal reads the operator's log at path; a missing log is empty.
func ReadLocal(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Warning is a record that could not be written: which host (or "local")
// and path, and why.
type Warning struct {
	Host string
	Path string
	Err  error
}

func (w Warning) String() string {
	return fmt.Sprintf("audit record not written on %s (%s): %v", w.Host, w.Path, w.Err)
}

// WriteTimeout bounds writing the records at the end of a run.
const WriteTimeout = 10 * time.Second

// Sink is where a run's records go.
type Sink struct {
	// Nodes are the run's nodes by name (where their logs are).
	Nodes map[string]*cluster.Node
	// Connect reaches a node's host (the run's pool).
	Connect func(ctx context.Context, n *cluster.Node) (remote.Host, error)
	// Local is the operator's log ("": none, a warning).
	Local    string
	Parallel int
}

// Write appends the operator's record and every node's, each node at
// most parallel at once, on a context Ctrl-C does not cancel, bounded by
// WriteTimeout. A record that cannot be written is a warning, never an
// error: the audit trail does not block a rollout.
func (s Sink) Write(ctx context.Context, local Record, nodes []Record) []Warning {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), WriteTimeout)
	defer cancel()
	var mu sync.Mutex
	var warns []Warning
	warn := func(w Warning) {
		mu.Lock()
		defer mu.Unlock()
		warns = append(warns, w)
	}
	if s.Local == "" {
		warn(Warning{Host: "local", Path: "(none)", Err: fmt.Errorf("no state directory: set %s or XDG_STATE_HOME", EnvLog)})
	} else if err := AppendLocal(s.Local, Fit(local, MaxLocalLine)); err != nil {
		warn(Warning{Host: "local", Path: s.Local, Err: err})
	}
	remote.Each(ctx, nodes, s.Parallel, func(r Record) string { return r.Node }, func(ctx context.Context, r Record) error {
		n := s.Nodes[r.Node]
		if n == nil {
			return nil
		}
		h, err := s.Connect(ctx, n)
		if err == nil {
			err = AppendNode(ctx, h, n, Fit(r, MaxNodeLine))
			h.Close()
		}
		if err != nil {
			warn(Warning{Host: n.Name, Path: PathFor(n), Err: err})
		}
		return nil
	})
	return warns
}

// ReadLines is how much of a node's log `history --node` reads: its last
// lines.
const ReadLines = 5000

// ReadNode reads node n's log through h (as root); a missing log is
// empty.
func ReadNode(ctx context.Context, h remote.Host, n *cluster.Node) ([]byte, error) {
	p := remote.Quote(PathFor(n))
	return remote.Script(ctx, h, "read "+PathFor(n), "if [ -e "+p+" ]; then tail -n "+strconv.Itoa(ReadLines)+" "+p+"; fi", remote.RunOptions{Sudo: true})
}

// Parse reads records, one JSON object per line; a line that is not a
// record (corrupt, cut short, another format) is skipped with a warning
// naming name and the line. Blank lines are ignored.
func Parse(r io.Reader, name string) ([]Record, []string) {
	var out []Record
	var warns []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4*MaxLocalLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			warns = append(warns, fmt.Sprintf("%s:%d: skipped, not an audit record: %v", name, line, err))
			continue
		}
		if rec.Schema == 0 || rec.Run == "" || rec.Command == "" {
			warns = append(warns, fmt.Sprintf("%s:%d: skipped, not an audit record (no v, run or command)", name, line))
			continue
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		warns = append(warns, fmt.Sprintf("%s:%d: stopped reading: %v", name, line+1, err))
	}
	return out, warns
}

// Select keeps the records about node (every record when ""; a record is
// about a node it names, as Node or among Nodes), and of those the last
// limit (all when limit <= 0), in log order.
func Select(recs []Record, node string, limit int) []Record {
	var out []Record
	for _, r := range recs {
		if node == "" || r.Node == node || slices.Contains(r.Nodes, node) {
			out = append(out, r)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// Trail collects a run's steps as they happen (a rollout's events, from
// any goroutine: rollout.AuditStep).
type Trail struct {
	mu    sync.Mutex
	steps []Step
}

// Add records a step.
func (t *Trail) Add(s ...Step) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.steps = append(t.steps, s...)
}

// Steps are the steps so far.
func (t *Trail) Steps() []Step {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Step(nil), t.steps...)
}
