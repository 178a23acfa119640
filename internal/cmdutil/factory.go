// Package cmdutil is what every natsops command is built on: the world it
// runs in (System), the global flags, the Factory that loads the
// inventory, reaches hosts and monitoring endpoints and writes the audit
// trail, the one output contract (-o json: one document, or JSON Lines
// ending in the result) and the one mapping from an error to the exit
// code (docs/output.md).
//
// It owns no command: each lives in its own package under internal/cmd,
// an options struct and a run function (docs/ARCHITECTURE.md, "Where to
// add a command"). It must not loop over nodes doing I/O itself beyond
// the fleet reader and the connector.
package cmdutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/probe"
	"github.com/natsops/natsops/pkg/progress"
)

// DefaultParallel is --parallel's default: hosts worked on at once.
const DefaultParallel = 10

// Globals are the values of the flags every command shares.
type Globals struct {
	Inventory string
	Clusters  []string
	Limit     []string
	Output    string
	NoColor   bool
	Verbose   int
	Yes       bool
	Parallel  int
	// AskBecomePass prompts once for the sudo password of the SSH users.
	AskBecomePass bool
}

// Factory is a command's access to the world and the shared machinery;
// commands keep a pointer to it in their options. Narrow makes the copy
// one cluster of an estate runs with.
type Factory struct {
	Sys    *System
	Global *Globals
	link   Link
	out    *output
	estate *estateCache
}

// estateCache is the inventory read once per run (by path).
type estateCache struct {
	mu   sync.Mutex
	path string
	est  *cluster.Estate
	err  error
}

// NewFactory is the factory of one natsops run; link is what the release
// build's linker set (version, commit).
func NewFactory(sys *System, link Link) *Factory {
	return &Factory{Sys: sys, Global: &Globals{Output: "text", Parallel: DefaultParallel}, link: link,
		out: &output{w: sys.Stdout}, estate: &estateCache{}}
}

// AddGlobalFlags registers the shared flags on root (persistent) and
// their completions, and checks them before any command runs.
func (f *Factory) AddGlobalFlags(root *cobra.Command) {
	g := f.Global
	def := "natsops.toml"
	if v, ok := f.Sys.Getenv("NATSOPS_INVENTORY"); ok && v != "" {
		def = v
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.Inventory, "inventory", "i", def, "inventory file (env NATSOPS_INVENTORY)")
	pf.StringSliceVar(&g.Clusters, "cluster", nil, "only these clusters of an inventory with [[clusters]] (names or globs, comma-separated)")
	pf.StringSliceVar(&g.Limit, "limit", nil, "only these nodes (names or globs, comma-separated)")
	pf.StringVarP(&g.Output, "output", "o", "text", "output format: text or json")
	pf.BoolVar(&g.NoColor, "no-color", false, "no ANSI colours (also when NO_COLOR is set)")
	pf.CountVarP(&g.Verbose, "verbose", "v", "more detail (repeat for more)")
	pf.BoolVar(&g.Yes, "yes", false, "do not ask for confirmation (required without a terminal)")
	pf.IntVar(&g.Parallel, "parallel", DefaultParallel, "hosts worked on at once")
	pf.BoolVar(&g.AskBecomePass, "ask-become-pass", false, "ask for the sudo password (when the SSH user has no passwordless sudo)")
	_ = root.RegisterFlagCompletionFunc("limit", f.CompleteNodes)
	_ = root.RegisterFlagCompletionFunc("cluster", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		est, err := cluster.LoadEstate(g.Inventory)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return est.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.Output != "text" && g.Output != "json" {
			return Usage("--output must be text or json, not %q", g.Output)
		}
		if g.Parallel < 1 {
			return Usage("--parallel must be at least 1")
		}
		return nil
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return WithCode(ExitUsage, fmt.Errorf("%w\nrun '%s --help' for usage", err, cmd.CommandPath()))
	})
}

// NoArgs is cobra.NoArgs as a usage error (exit 64).
func NoArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return Usage("%v\nrun '%s --help' for usage", err, cmd.CommandPath())
	}
	return nil
}

// JSON reports whether -o json is on.
func (f *Factory) JSON() bool { return f.Global.Output == "json" }

// Style is stdout's colouring: a terminal, no --no-color, no NO_COLOR,
// text output.
func (f *Factory) Style() view.Style {
	if f.Global.NoColor || f.JSON() {
		return view.Style{}
	}
	if _, set := f.Sys.Getenv("NO_COLOR"); set {
		return view.Style{}
	}
	return view.Style{On: f.Sys.IsTTY(f.Sys.Stdout)}
}

// Event writes one event of a streaming command (-o json only).
func (f *Factory) Event(kind string, v any) {
	if f.JSON() {
		f.out.event(kind, v)
	}
}

// Result sets the command's fields of its -o json result (a struct or
// map; the root adds ok, exit_code and error).
func (f *Factory) Result(v any) {
	if f.JSON() {
		f.out.setResult(v)
	}
}

// Progress is where long waits report (pkg/progress): a line on stderr
// in text, whether or not it is a terminal (CI logs need it too), or a
// "progress" event with -o json.
func (f *Factory) Progress() progress.Func {
	if f.JSON() {
		return func(r progress.Report) { f.out.event("progress", r) }
	}
	// On a terminal, first clear a line drawn in place (a --pause
	// countdown, bench's bar) so the report is not glued to it.
	clear := ""
	if f.Sys.IsTTY(f.Sys.Stderr) {
		clear = "\r\x1b[K"
	}
	return func(r progress.Report) { fmt.Fprintln(f.Sys.Stderr, clear+r.String()) }
}

// Warn writes a warning on stderr.
func (f *Factory) Warn(format string, args ...any) {
	fmt.Fprintf(f.Sys.Stderr, "natsops: warning: "+format+"\n", args...)
}

// Finish ends a run: the exit code of what cmd returned (ExitCode), the
// error on stderr unless the command showed it, and with -o json the
// result (the document, or a stream's last line) on every path: success,
// failure, usage error. Commands that are not natsops's own (the embedded
// nats-server, cobra's help and completion) print nothing more.
func (f *Factory) Finish(cmd *cobra.Command, err error) int {
	code := ExitCode(cmd, err)
	if cmd != nil && cmd.Annotations[AnnotationOutput] == "raw" {
		return code
	}
	msg := ""
	if err != nil {
		msg = message(err)
		if msg != "" && !printed(err) {
			fmt.Fprintf(f.Sys.Stderr, "natsops: %s\n", msg)
		}
	}
	if !f.JSON() && !jsonRequested(f.Sys.Args) {
		return code
	}
	if cmd != nil && (cmd.Root() == cmd && err == nil || cmd.Name() == "help" || cmd.Name() == "completion" || strings.HasPrefix(cmd.Name(), "__")) {
		// The help (natsops alone), or cobra's own commands: their text
		// is the output.
		return code
	}
	var ie *cluster.InventoryError
	if errors.As(err, &ie) && f.out.result == nil {
		f.out.setResult(map[string]any{"inventory": f.Global.Inventory, "problems": ie.Problems})
	}
	f.out.finish(cmd != nil && cmd.Annotations[AnnotationOutput] == "stream", code, msg)
	return code
}

// LoadEstate reads the inventory named by -i with every cluster (once
// per run).
func (f *Factory) LoadEstate() (*cluster.Estate, error) {
	c := f.estate
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.est == nil && c.err == nil || c.path != f.Global.Inventory {
		c.path = f.Global.Inventory
		c.est, c.err = cluster.LoadEstate(c.path)
	}
	return c.est, c.err
}

// SelectClusters are the clusters --cluster picks (all without it).
func (f *Factory) SelectClusters(est *cluster.Estate) ([]*cluster.Inventory, error) {
	if !est.Multi && len(f.Global.Clusters) == 0 {
		return est.Clusters, nil
	}
	cs, err := est.Select(f.Global.Clusters)
	if err != nil {
		return nil, WithCode(ExitUsage, err)
	}
	return cs, nil
}

// Load reads the inventory named by -i: one cluster. An estate of
// several needs --cluster to pick one, for the commands that work on one
// cluster at a time.
func (f *Factory) Load() (*cluster.Inventory, error) {
	est, err := f.LoadEstate()
	if err != nil {
		return nil, err
	}
	cs, err := f.SelectClusters(est)
	if err != nil {
		return nil, err
	}
	if len(cs) != 1 {
		names := make([]string, len(cs))
		for i, c := range cs {
			names[i] = c.ClusterName()
		}
		return nil, Usage("%s describes %d clusters (%s) and this command works on one cluster at a time: pass --cluster NAME", est.Path, len(cs), strings.Join(names, ", "))
	}
	return cs[0], nil
}

// LoadSelected reads the inventory and the nodes the patterns select
// (--limit, or --node): a pattern matching no node is a usage error.
func (f *Factory) LoadSelected(patterns []string) (*cluster.Inventory, []*cluster.Node, error) {
	inv, err := f.Load()
	if err != nil {
		return nil, nil, err
	}
	nodes, err := inv.Select(patterns)
	if err != nil {
		return nil, nil, WithCode(ExitUsage, err)
	}
	return inv, nodes, nil
}

// Scoped is one cluster's part of a command over an estate: the cluster
// and its selected nodes.
type Scoped struct {
	Inv   *cluster.Inventory
	Nodes []*cluster.Node
}

// SelectScope is every --cluster cluster with --limit nodes (one for a
// single-cluster file), in file order.
func (f *Factory) SelectScope() ([]Scoped, error) {
	est, err := f.LoadEstate()
	if err != nil {
		return nil, err
	}
	return f.Scope(est, f.Global.Limit)
}

// Scope is every --cluster cluster of est with nodes matching sel (all
// with none), in file order; a cluster none of whose nodes match is left
// out, a pattern matching no node at all is a usage error.
func (f *Factory) Scope(est *cluster.Estate, sel []string) ([]Scoped, error) {
	cs, err := f.SelectClusters(est)
	if err != nil {
		return nil, err
	}
	by, err := cluster.SelectNodes(cs, sel)
	if err != nil {
		return nil, WithCode(ExitUsage, err)
	}
	var out []Scoped
	for _, c := range cs {
		if ns := by[c]; len(ns) > 0 {
			out = append(out, Scoped{c, ns})
		}
	}
	return out, nil
}

// Narrow is the factory one cluster of an estate runs with: --cluster
// is that cluster, and --limit its selected nodes when a --limit was
// given.
func (f *Factory) Narrow(sc Scoped) *Factory {
	g := *f.Global
	g.Clusters = []string{sc.Inv.ClusterName()}
	if len(f.Global.Limit) > 0 {
		g.Limit = NodeNames(sc.Nodes)
	}
	n := *f
	n.Global = &g
	return &n
}

// NodeNames are the nodes' names.
func NodeNames(nodes []*cluster.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

// FleetReader is the one way commands read monitoring endpoints.
func (f *Factory) FleetReader() fleet.Reader {
	return fleet.Reader{Monitor: &monitor.Client{}, Parallel: f.Global.Parallel}
}

// ReadFleet reads every inventory node's monitoring endpoint (peers'
// readings name the routes of servers older than 2.10) and, through conn
// (nil: monitoring only), the selected nodes' hosts, and judges the
// selected nodes.
func (f *Factory) ReadFleet(ctx context.Context, inv *cluster.Inventory, nodes []*cluster.Node, conn *Connector) *health.Fleet {
	fr := f.FleetReader()
	if inv.Estate != nil && inv.Estate.Multi {
		fr.Options = fleet.EstateOptions(inv.Estate)
	}
	r := probe.Reader{Fleet: fr, Parallel: f.Global.Parallel}
	if conn != nil {
		r.Connect, r.Forget = conn.Connect, conn.pool.Forget
	}
	rd := r.Read(ctx, inv.Nodes, nodes)
	return health.Status(inv, nodes, rd.Snaps, rd.Hosts)
}

// HostConnector is the connector status and check read hosts through,
// or nil with --monitor-only; close it when done.
func (f *Factory) HostConnector(inv *cluster.Inventory, monitorOnly bool) (*Connector, func(), error) {
	if monitorOnly {
		return nil, func() {}, nil
	}
	conn, err := f.Connector(inv)
	if err != nil {
		return nil, nil, err
	}
	return conn, conn.Close, nil
}

// CompleteNodes completes a flag that names nodes (--limit, --node)
// with the node names of the --inventory file.
func (f *Factory) CompleteNodes(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	est, err := cluster.LoadEstate(f.Global.Inventory)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, c := range est.Clusters {
		names = append(names, c.NodeNames()...)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// Confirm asks before a disruptive step: --yes skips it; without a
// terminal there is nobody to ask, so natsops refuses.
func (f *Factory) Confirm(what string) error {
	if f.Global.Yes {
		return nil
	}
	if !f.Sys.IsTTY(f.Sys.Stdin) || !f.Sys.IsTTY(f.Sys.Stderr) {
		return WithCode(ExitCancelled, errors.New(what+": no terminal to confirm on; rerun with --yes"))
	}
	fmt.Fprintf(f.Sys.Stderr, "%s? [y/N] ", what)
	line, _ := bufio.NewReader(f.Sys.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return WithCode(ExitCancelled, errors.New("cancelled; nothing was changed"))
}

// Terminal is stdin as a terminal to prompt on, or nil.
func (f *Factory) Terminal() *os.File {
	if tty, ok := f.Sys.Stdin.(*os.File); ok && f.Sys.IsTTY(tty) {
		return tty
	}
	return nil
}
