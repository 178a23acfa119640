// Package audit is natsops's audit trail: one JSON record per mutating run
// (tune, provision, deploy, restart) and node, appended to the node's own log
// (/var/log/natsops/audit.jsonl) and, for the whole run, to a log on the
// operator's machine; and reading them back for `natsops history`.
//
// A record says who ran what from where (user@host, natsops version, the
// inventory's SHA-256), what was planned for each node, each step's result
// and timing, and how the run ended. It never carries a secret: every
// text is scrubbed of the inventory's secret values (config.Scrub) before
// it is kept. Building records is pure (Build, Fit, Outcome); writing
// goes through remote.Host on the nodes and a plain file here.
//
// It records what the engines tell it in its own terms (Planned, Step,
// Result) and imports none of them: the host engine (pkg/hostrun, for
// tune and provision) gives its plan and steps as these, deploy's plan
// says itself as Planned (deploy.Plan.Audit), and pkg/rollout (audit.go)
// turns a rollout's events, report and error into them.
package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
)

// Schema is the record format's version (the "v" of every line).
const Schema = 1

// Outcomes of a run.
const (
	OK          = "ok"
	Failed      = "failed"
	Interrupted = "interrupted"
	// Refused: the run stopped before it changed anything (a held lock,
	// an unhealthy cluster at preflight, files changed since the plan,
	// the JetStream check before any node was touched).
	Refused = "refused"
)

// Node outcomes: what the run did to the node a node record is for.
const (
	NodeDone    = "done"
	NodeSkipped = "skipped"
	NodeNotDone = "not-done"
	NodeFailed  = "failed"
)

// Step results, in the words a rollout's events use.
const (
	StepOK      = "ok"
	StepFailed  = "failed"
	StepWarning = "warning"
)

// Run is what is known of a run when it starts.
type Run struct {
	ID        string
	Command   string
	Operation string
	// Who is user@host, as the rollout lock names its owner.
	Who string
	// From is the machine natsops ran on and, when the operator reached
	// it over SSH, from where (SSH_CONNECTION's client address).
	From            string
	Version         string
	Inventory       string
	InventorySHA256 string
	Started         time.Time
	// Nodes are the nodes the run was asked to change.
	Nodes []string
}

// Planned is what a run meant to do to one node.
type Planned struct {
	Node string `json:"node"`
	// Change is restart, reload, install, remove (deploy and restart),
	// tune or provision.
	Change string `json:"change"`
	// Items are what changes: the config keys of a deploy, the sysctls
	// and files of a tune, the mode of a restart.
	Items []string `json:"items,omitempty"`
}

// Step is one step of a run (a rollout's event; a host's plan, apply or
// verify).
type Step struct {
	Node      string `json:"node,omitempty"`
	Step      string `json:"step"`
	Result    string `json:"result"`
	ElapsedMS int64  `json:"elapsed_ms"`
	Detail    string `json:"detail,omitempty"`
}

// Result is how a run ended.
type Result struct {
	End      time.Time
	Order    []string
	Plan     []Planned
	Steps    []Step
	Done     []string
	Skipped  []string
	NotDone  []string
	Outcome  string
	Error    string
	ExitCode int
	// FailedNode is the node the run stopped at, if any.
	FailedNode string
}

// Record is one line of an audit log.
type Record struct {
	Schema          int       `json:"v"`
	Time            time.Time `json:"time"`
	DurationMS      int64     `json:"duration_ms"`
	Run             string    `json:"run"`
	Command         string    `json:"command"`
	Operation       string    `json:"operation,omitempty"`
	Who             string    `json:"who"`
	From            string    `json:"from,omitempty"`
	Natsops         string    `json:"natsops"`
	Inventory       string    `json:"inventory"`
	InventorySHA256 string    `json:"inventory_sha256"`
	// Node is the node a node's record is about ("" in the operator's
	// record, which covers every node).
	Node  string   `json:"node,omitempty"`
	Nodes []string `json:"nodes"`
	Order []string `json:"order,omitempty"`
	// Done and NotDone are the nodes the run changed and those it left
	// (a rollout that stopped or was interrupted says which here).
	Done        []string  `json:"done,omitempty"`
	NotDone     []string  `json:"not_done,omitempty"`
	Plan        []Planned `json:"plan"`
	Steps       []Step    `json:"steps"`
	Outcome     string    `json:"outcome"`
	NodeOutcome string    `json:"node_outcome,omitempty"`
	Error       string    `json:"error,omitempty"`
	ExitCode    int       `json:"exit_code"`
	// Truncated: details were shortened or steps left out to keep the
	// line under the size one atomic append allows (Fit).
	Truncated bool `json:"truncated,omitempty"`
}

// Build makes the operator's record (every node) and one record per node
// of run.Nodes (the run-wide steps, node "", and that node's own). Every
// text is scrubbed of secrets.
func Build(run Run, res Result, secrets []string) (local Record, nodes []Record) {
	scrub := func(s string) string { return config.Scrub(s, secrets) }
	base := Record{
		Schema: Schema, Time: run.Started.UTC(), DurationMS: max(res.End.Sub(run.Started).Milliseconds(), 0),
		Run: run.ID, Command: run.Command, Operation: scrub(run.Operation), Who: run.Who, From: run.From,
		Natsops: run.Version, Inventory: run.Inventory, InventorySHA256: run.InventorySHA256,
		Nodes: text.NonNil(run.Nodes), Order: res.Order, Done: res.Done, NotDone: res.NotDone, Outcome: res.Outcome, Error: scrub(res.Error), ExitCode: res.ExitCode,
	}
	plan := make([]Planned, len(res.Plan))
	for i, p := range res.Plan {
		p.Items = slices.Clone(p.Items)
		for j := range p.Items {
			p.Items[j] = scrub(p.Items[j])
		}
		plan[i] = p
	}
	steps := make([]Step, len(res.Steps))
	for i, s := range res.Steps {
		s.Detail = scrub(s.Detail)
		steps[i] = s
	}
	local = base
	local.Plan, local.Steps = text.NonNil(plan), text.NonNil(steps)
	for _, n := range run.Nodes {
		r := base
		r.Node = n
		r.Plan = []Planned{}
		for _, p := range plan {
			if p.Node == n {
				r.Plan = append(r.Plan, p)
			}
		}
		r.Steps = []Step{}
		for _, s := range steps {
			if s.Node == "" || s.Node == n {
				r.Steps = append(r.Steps, s)
			}
		}
		r.NodeOutcome = nodeOutcome(n, res)
		nodes = append(nodes, r)
	}
	return local, nodes
}

// nodeOutcome is what the run did to node n.
func nodeOutcome(n string, res Result) string {
	switch {
	case n == res.FailedNode:
		return NodeFailed
	case slices.Contains(res.Done, n):
		return NodeDone
	case slices.Contains(res.Skipped, n):
		return NodeSkipped
	}
	return NodeNotDone
}

// Outcome classifies how a run ended from its error (nil: ok): Ctrl-C
// is interrupted, any other error failed. A rollout knows more of its
// own errors (refused, interrupted between nodes): rollout.AuditOutcome.
func Outcome(err error) string {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, context.Canceled):
		return Interrupted
	}
	return Failed
}

// Secrets are the values of every secret of the inventory's nodes (those
// that resolve: a reference that does not cannot have leaked), and the
// literals themselves (a bcrypt hash included): what Build scrubs.
func Secrets(inv *cluster.Inventory, env cluster.Env) []string {
	var out []string
	for _, n := range inv.Nodes {
		for _, f := range inv.Secrets(n) {
			if f.Secret.Kind() == cluster.SecretLiteral && string(f.Secret) != "" {
				out = append(out, string(f.Secret))
			}
			if v, err := f.Secret.Resolve(inv.Dir, env); err == nil && v != "" {
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Digest is the SHA-256 of the inventory file's bytes, hex.
func Digest(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// MaxNodeLine bounds a node's record with its newline: below PIPE_BUF
// (4096), so one write with O_APPEND lands whole even when two runs append
// at once.
const MaxNodeLine = 4000

// MaxLocalLine bounds the operator's record (every node's steps).
const MaxLocalLine = 64 << 10

// detailCap is how long a step's detail stays when a record must shrink.
const detailCap = 200

// Fit encodes rec as one JSON line (newline included) of at most limit
// bytes: if it is longer, step details are cut to 200 bytes, then
// dropped, then the middle steps (the first and the last few stay), then
// the plan's items; a record shrunk so says truncated.
func Fit(rec Record, limit int) []byte {
	enc := func(r Record) []byte {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false) // "<secret>" reads as such in the log
		_ = e.Encode(r)
		return buf.Bytes()
	}
	b := enc(rec)
	if len(b) <= limit {
		return b
	}
	rec.Truncated = true
	rec.Steps = slices.Clone(rec.Steps)
	for i := range rec.Steps {
		rec.Steps[i].Detail = cut(rec.Steps[i].Detail, detailCap)
	}
	if b = enc(rec); len(b) <= limit {
		return b
	}
	for i := range rec.Steps {
		rec.Steps[i].Detail = ""
	}
	rec.Error = cut(rec.Error, detailCap)
	if b = enc(rec); len(b) <= limit {
		return b
	}
	// Keep the first and last steps, drop from the middle.
	for len(rec.Steps) > 2 {
		mid := len(rec.Steps) / 2
		rec.Steps = slices.Delete(rec.Steps, mid, mid+1)
		if b = enc(rec); len(b) <= limit {
			return b
		}
	}
	rec.Plan = slices.Clone(rec.Plan)
	for i := range rec.Plan {
		rec.Plan[i].Items = nil
	}
	rec.Operation = cut(rec.Operation, detailCap)
	return enc(rec)
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	k := n
	for k > 0 && !utf8Start(s[k]) {
		k--
	}
	return s[:k] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// NewID is a run id for a run that is not a rollout (tune); a rollout's
// records carry the rollout's id.
func NewID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
