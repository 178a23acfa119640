package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/natsops/natsops/pkg/demo"
	"github.com/natsops/natsops/pkg/rollout"
)

// demoLine is any line of `natsops demo -o json`: setup, healthy, status,
// the rollout's events, and the summary last (decoded into summary).
type demoLine struct {
	rollout.Event
	// Kind is the line's "event": setup, healthy, status, step (the
	// rollout's), progress, cluster, path, result.
	Kind string `json:"event"`
	Dir  string `json:"dir"`
	// Status is the status line's reading (its host readings: the demo
	// shows status as status does); Clusters a supercluster's, one per
	// cluster.
	Status   *demoStatus  `json:"status"`
	Clusters []demoStatus `json:"clusters"`
	// Cluster and Order: a supercluster's "cluster" line (a cluster's
	// rolling restart begins).
	Cluster string   `json:"cluster"`
	Order   []string `json:"order"`
	summary *demoSummary
}

// demoStatus is one cluster's status as the demo shows it.
type demoStatus struct {
	Cluster string `json:"cluster"`
	Healthy bool   `json:"healthy"`
	Nodes   []struct {
		Node      string `json:"node"`
		FDs       string `json:"fds"`
		FDsOpen   int    `json:"fds_open"`
		Capacity  int    `json:"capacity"`
		JetStream string `json:"jetstream"`
	} `json:"nodes"`
}

// demoSummary is the demo's result line: the envelope and the summary.
type demoSummary struct {
	OK        bool   `json:"ok"`
	ExitCode  int    `json:"exit_code"`
	Error     string `json:"error"`
	Dir       string `json:"dir"`
	Inventory string `json:"inventory"`
	Kept      bool   `json:"kept"`
	Removed   bool   `json:"removed"`
	Mode      string `json:"mode"`
	demo.Run
	PIDs    []int `json:"pids"`
	Running []int `json:"running"`
	TotalMS int64 `json:"total_ms"`
}

// runDemo runs the built binary; onLine sees every stdout line as it
// comes, with the process (to signal it). It returns the exit code, every
// line and stderr.
func runDemo(t *testing.T, bin string, onLine func(demoLine, *os.Process), args ...string) (int, []demoLine, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []demoLine
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l demoLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("not one JSON object per line: %q: %v", sc.Text(), err)
			continue
		}
		if l.Kind == "result" {
			l.summary = &demoSummary{}
			if err := json.Unmarshal(sc.Bytes(), l.summary); err != nil {
				t.Errorf("summary: %q: %v", sc.Text(), err)
			}
		}
		lines = append(lines, l)
		if onLine != nil {
			onLine(l, cmd.Process)
		}
	}
	err = cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, lines, stderr.String()
}

func summaryOf(t *testing.T, lines []demoLine, stderr string) demoSummary {
	t.Helper()
	if len(lines) == 0 || lines[len(lines)-1].summary == nil {
		t.Fatalf("no summary line; stderr:\n%s", stderr)
	}
	return *lines[len(lines)-1].summary
}

// assertCleanedUp: the directory is gone and no process the demo started
// runs (a zombie has exited).
func assertCleanedUp(t *testing.T, s demoSummary) {
	t.Helper()
	assertCleanedUpN(t, s, 3)
}

// assertCleanedUpN is assertCleanedUp of a demo of nodes nodes.
func assertCleanedUpN(t *testing.T, s demoSummary, nodes int) {
	t.Helper()
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) || !s.Removed {
		t.Errorf("demo directory %s not removed (summary says removed=%v): %v", s.Dir, s.Removed, err)
	}
	if len(s.PIDs) < nodes {
		t.Errorf("summary lists %d started processes, want at least the %d first nodes: %v", len(s.PIDs), nodes, s.PIDs)
	}
	for _, pid := range s.PIDs {
		if demo.Alive(pid) {
			t.Errorf("process %d started by the demo is still running", pid)
		}
	}
}

// demoBinary builds natsops for the demo tests (the demo's nodes are
// child processes of the real binary), with -race when the tests run
// with it.
func demoBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "natsops")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		// A data race in the demo process makes it exit 66.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDemo builds natsops once and runs the demo four ways.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real clusters as processes")
	}
	bin := demoBinary(t)

	// The whole demo: every node restarted (new start times, new
	// processes), no acknowledged message lost, nothing left behind.
	t.Run("restarts every node and loses no acknowledged message", func(t *testing.T) {
		code, lines, stderr := runDemo(t, bin, nil, "demo", "-o", "json")
		s := summaryOf(t, lines, stderr)
		if code != 0 || !s.OK {
			t.Fatalf("exit %d, summary %+v\nstderr:\n%s", code, s, stderr)
		}
		if len(s.Nodes) != 3 {
			t.Fatalf("summary nodes: %+v", s.Nodes)
		}
		for _, n := range s.Nodes {
			if !n.Restarted || n.StartBefore.IsZero() || !n.StartAfter.After(n.StartBefore) {
				t.Errorf("%s not restarted: start %s -> %s", n.Node, n.StartBefore, n.StartAfter)
			}
			for _, step := range []string{rollout.StepStop, rollout.StepExit, rollout.StepStart, rollout.StepReady} {
				if _, ok := n.Steps[step]; !ok {
					t.Errorf("%s: no %s timing: %v", n.Node, step, n.Steps)
				}
			}
		}
		if len(s.PIDs) != 6 {
			t.Errorf("want 6 server processes (3 started, 3 restarted), got %v", s.PIDs)
		}
		// The status it shows has every node's descriptors and capacity.
		statuses := 0
		for _, l := range lines {
			if l.Kind != "status" {
				continue
			}
			statuses++
			if l.Status == nil || len(l.Status.Nodes) != 3 {
				t.Fatalf("status line: %+v", l.Status)
			}
			for _, n := range l.Status.Nodes {
				if n.FDsOpen <= 0 || n.Capacity <= 0 || strings.HasPrefix(n.FDs, "-") {
					t.Errorf("status %s: fds %q (%d open), capacity %d", n.Node, n.FDs, n.FDsOpen, n.Capacity)
				}
			}
		}
		if statuses != 1 {
			t.Errorf("%d status lines, want 1", statuses)
		}
		m := s.Messages
		if m == nil || m.Acked == 0 || m.Lost != 0 || m.Verified != m.Acked || m.Received == 0 {
			t.Errorf("messages: %+v", m)
		}
		assertCleanedUp(t, s)
	})

	// A node killed while another is being restarted: the rollout stops
	// at that step naming the dead node, the demo exits non-zero and still
	// cleans up.
	t.Run("a node killed mid-run stops the rollout and the demo cleans up", func(t *testing.T) {
		var dir, restarting, victim string
		onLine := func(l demoLine, _ *os.Process) {
			switch {
			case l.Kind == "setup":
				dir = l.Dir
			case victim == "" && l.Step == rollout.StepStart && l.Result == rollout.ResultOK:
				restarting = l.Node
				for _, n := range []string{"n1", "n2", "n3"} {
					if n != restarting {
						victim = n
					}
				}
				data, err := os.ReadFile(filepath.Join(dir, victim+".pid"))
				if err != nil {
					t.Errorf("read %s's pid file: %v", victim, err)
					return
				}
				pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Errorf("kill %s (pid %d): %v", victim, pid, err)
				}
			}
		}
		// The default --timeout (30s): the dead peer is noticed on its
		// host, not by waiting the timeout out.
		code, lines, stderr := runDemo(t, bin, onLine, "demo", "-o", "json")
		s := summaryOf(t, lines, stderr)
		if victim == "" {
			t.Fatalf("no node was restarted, nothing killed:\n%+v", lines)
		}
		if code != ExitUnhealthy || s.OK {
			t.Errorf("exit %d (want %d), ok=%v", code, ExitUnhealthy, s.OK)
		}
		failed := false
		for _, l := range lines {
			if l.Node == restarting && l.Step == rollout.StepReady && l.Result == rollout.ResultFailed {
				failed = true
			}
			if l.Step == rollout.StepStart && l.Result == rollout.ResultOK && l.Node != restarting {
				t.Errorf("the rollout went on to %s after the failure", l.Node)
			}
		}
		if !failed {
			t.Errorf("no failed ready event for %s", restarting)
		}
		if !strings.Contains(s.Error, restarting+": ready failed") || !strings.Contains(s.Error, victim+": its server process") || !strings.Contains(s.Error, victim+" went down while "+restarting+" was coming back") {
			t.Errorf("error does not say %s did not become ready because %s is down:\n%s", restarting, victim, s.Error)
		}
		if strings.Contains(s.Error, "rerun natsops restart") {
			t.Errorf("restart's advice in the demo's error (its cluster is gone):\n%s", s.Error)
		}
		assertCleanedUp(t, s)
	})

	// Ctrl-C during the rollout: exit 5, and still nothing left behind.
	t.Run("interrupted demo cleans up", func(t *testing.T) {
		sent := false
		code, lines, stderr := runDemo(t, bin, func(l demoLine, p *os.Process) {
			if !sent && l.Step == rollout.StepStart && l.Result == rollout.ResultOK {
				sent = p.Signal(os.Interrupt) == nil
			}
		}, "demo", "-o", "json")
		if !sent || code != ExitCancelled {
			t.Fatalf("interrupt sent %v, exit %d (want %d)\nstderr:\n%s", sent, code, ExitCancelled, stderr)
		}
		last := summaryOf(t, lines, stderr)
		if last.OK || !strings.Contains(last.Error, "interrupted") {
			t.Errorf("summary: %+v", last)
		}
		assertCleanedUp(t, last)
	})

	// --keep: the cluster stays up and healthy for other commands; the
	// printed stop command ends it.
	t.Run("keep leaves a healthy cluster that demo --stop removes", func(t *testing.T) {
		code, lines, stderr := runDemo(t, bin, nil, "demo", "-o", "json", "--keep")
		s := summaryOf(t, lines, stderr)
		t.Cleanup(func() {
			if _, err := os.Stat(s.Dir); err == nil {
				_ = exec.Command(bin, "demo", "--stop", s.Dir).Run()
			}
		})
		if code != 0 || !s.Kept || len(s.Running) != 3 {
			t.Fatalf("exit %d, summary %+v\nstderr:\n%s", code, s, stderr)
		}
		for _, pid := range s.Running {
			if !demo.Alive(pid) {
				t.Errorf("kept node process %d is not running", pid)
			}
		}
		for _, args := range [][]string{{"status"}, {"validate"}, {"check"}} {
			out, err := exec.Command(bin, append(args, "-i", s.Inventory)...).CombinedOutput()
			if err != nil {
				t.Errorf("natsops %s -i %s: %v\n%s", args[0], s.Inventory, err, out)
			}
			if args[0] == "status" && !strings.Contains(string(out), "3 nodes healthy") {
				t.Errorf("status:\n%s", out)
			}
		}
		out, err := exec.Command(bin, "demo", "--stop", s.Dir).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "stopped 3 servers") {
			t.Fatalf("demo --stop: %v\n%s", err, out)
		}
		s.Removed = true
		assertCleanedUp(t, s)
	})
}

// TestDemoSupercluster runs `natsops demo --supercluster`: east and west
// joined by gateways, edge a leaf node of east. Every node of every
// cluster is restarted one cluster at a time (the leaf first, the hub of
// the JetStream meta leader last, nothing of a cluster while another is
// restarted), each cluster's meta leader last within it, and no path
// loses an acknowledged message. --keep leaves the estate healthy for
// status; an interrupted run stops in its cluster and cleans up.
func TestDemoSupercluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real clusters as processes")
	}
	bin := demoBinary(t)
	clusterOf := map[string]string{"east-1": "east", "east-2": "east", "east-3": "east", "west-1": "west", "west-2": "west", "west-3": "west", "edge-1": "edge"}

	t.Run("restarts every cluster in the estate order and loses no acknowledged message on any path", func(t *testing.T) {
		// A generous --timeout: each node's wait is bounded by it, and a
		// loaded machine may need more than the default to elect a meta
		// leader across the gateways.
		code, lines, stderr := runDemo(t, bin, nil, "demo", "--supercluster", "--keep", "-o", "json", "--timeout", "2m")
		s := summaryOf(t, lines, stderr)
		t.Cleanup(func() {
			if _, err := os.Stat(s.Dir); err == nil {
				_ = exec.Command(bin, "demo", "--stop", s.Dir).Run()
			}
		})
		if code != 0 || !s.OK || !s.Kept {
			t.Fatalf("exit %d, summary %+v\nstderr:\n%s", code, s, stderr)
		}

		// The status shown: every cluster healthy, one meta leader for
		// the supercluster (east and west), the edge's JetStream its own.
		leader := ""
		for _, l := range lines {
			if l.Kind != "status" {
				continue
			}
			if len(l.Clusters) != 3 {
				t.Fatalf("status line: %+v", l.Clusters)
			}
			for _, c := range l.Clusters {
				if !c.Healthy {
					t.Errorf("cluster %s not healthy at the start: %+v", c.Cluster, c)
				}
				for _, n := range c.Nodes {
					if n.JetStream == "leader" {
						if leader != "" {
							t.Errorf("two meta leaders: %s and %s", leader, n.Node)
						}
						leader = n.Node
					}
				}
			}
		}
		// One cluster at a time: edge, then the other hub, then the
		// leader's (file order when the reading named no leader); every
		// event of a node inside its cluster's part.
		wantOrder := "edge,east,west"
		switch clusterOf[leader] {
		case "east":
			wantOrder = "edge,west,east"
		case "edge":
			t.Errorf("the edge's %s leads the supercluster's meta group", leader)
		}
		if got := strings.Join(s.ClusterOrder, ","); got != wantOrder {
			t.Errorf("cluster order %s, want %s (leaf first, the meta leader %q's hub last)", got, wantOrder, leader)
		}
		current, seen := "", []string{}
		for _, l := range lines {
			switch {
			case l.Kind == "cluster":
				current = l.Cluster
				seen = append(seen, current)
				if strings.Join(l.Order, ",") != strings.Join(s.ClusterOrder, ",") {
					t.Errorf("cluster line order %v, summary %v", l.Order, s.ClusterOrder)
				}
			case l.Node != "" && clusterOf[l.Node] != "" && l.Kind != "status":
				if clusterOf[l.Node] != current {
					t.Errorf("event %s %s %s during cluster %s's restart", l.Node, l.Step, l.Result, current)
				}
			}
		}
		if strings.Join(seen, ",") != strings.Join(s.ClusterOrder, ",") {
			t.Errorf("cluster lines %v, order %v", seen, s.ClusterOrder)
		}

		// Each cluster's own order: every node once, the meta leader of
		// the moment (its order event says) last.
		if len(s.Clusters) != 3 {
			t.Fatalf("clusters: %+v", s.Clusters)
		}
		var orderLeaders []string
		for _, l := range lines {
			if l.Step == rollout.StepOrder && l.Result == rollout.ResultOK {
				_, after, _ := strings.Cut(l.Detail, "JetStream meta leader last: ")
				orderLeaders = append(orderLeaders, strings.TrimSuffix(after, ")"))
			}
		}
		if len(orderLeaders) != 3 {
			t.Fatalf("order events: %v", orderLeaders)
		}
		for i, c := range s.Clusters {
			var want []string
			for n, cl := range clusterOf {
				if cl == c.Cluster {
					want = append(want, n)
				}
			}
			if len(c.Order) != len(want) || len(c.Done) != len(want) {
				t.Errorf("cluster %s: order %v done %v, want each of %v", c.Cluster, c.Order, c.Done, want)
				continue
			}
			for _, n := range c.Order {
				if clusterOf[n] != c.Cluster {
					t.Errorf("cluster %s's order has %s", c.Cluster, n)
				}
			}
			if l := orderLeaders[i]; clusterOf[l] == c.Cluster && c.Order[len(c.Order)-1] != l {
				t.Errorf("cluster %s: order %v, want the meta leader %s last", c.Cluster, c.Order, l)
			}
		}
		if len(s.Nodes) != 7 {
			t.Fatalf("summary nodes: %+v", s.Nodes)
		}
		for _, n := range s.Nodes {
			if !n.Restarted || !n.StartAfter.After(n.StartBefore) {
				t.Errorf("%s not restarted: start %s -> %s", n.Node, n.StartBefore, n.StartAfter)
			}
			for _, step := range []string{rollout.StepStop, rollout.StepExit, rollout.StepStart, rollout.StepReady} {
				if _, ok := n.Steps[step]; !ok {
					t.Errorf("%s: no %s timing: %v", n.Node, step, n.Steps)
				}
			}
		}

		// Every path: messages acknowledged across it, every one read
		// back, the subscriber at the far end received them; one path
		// line each before the summary.
		want := map[string]string{"east->west": "gateway", "west->east": "gateway", "east->edge": "leaf", "edge->west": "leaf+gateway"}
		if len(s.Paths) != len(want) {
			t.Fatalf("paths: %+v", s.Paths)
		}
		for _, p := range s.Paths {
			m := p.Messages
			if want[p.Name] != p.Via || m == nil || p.Error != "" {
				t.Errorf("path %s via %s: %+v (error %q)", p.Name, p.Via, m, p.Error)
				continue
			}
			if m.Acked == 0 || m.Lost != 0 || m.Verified != m.Acked || m.Received == 0 {
				t.Errorf("path %s: %+v", p.Name, m)
			}
		}
		pathLines := 0
		for _, l := range lines {
			if l.Kind == "path" {
				pathLines++
			}
		}
		if pathLines != len(want) {
			t.Errorf("%d path lines, want %d", pathLines, len(want))
		}

		// Kept: the estate is healthy for status across its clusters, and
		// --stop ends it.
		if len(s.Running) != 7 {
			t.Errorf("running %v, want 7 servers", s.Running)
		}
		out, err := exec.Command(bin, "status", "-i", s.Inventory).CombinedOutput()
		for _, c := range []string{"east", "west"} {
			if !strings.Contains(string(out), "cluster "+c+": 3 nodes healthy") {
				t.Errorf("status (%v): cluster %s not healthy:\n%s", err, c, out)
			}
		}
		if err != nil || !strings.Contains(string(out), "cluster edge: 1 node healthy") {
			t.Errorf("status: %v\n%s", err, out)
		}
		out, err = exec.Command(bin, "demo", "--stop", s.Dir).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "stopped 7 servers") {
			t.Fatalf("demo --stop: %v\n%s", err, out)
		}
		s.Removed = true
		assertCleanedUpN(t, s, 7)
	})

	// Ctrl-C while the second cluster restarts: exit 5, the third cluster
	// not touched, and nothing left behind.
	t.Run("interrupted supercluster demo cleans up", func(t *testing.T) {
		sent := false
		var during string
		code, lines, stderr := runDemo(t, bin, func(l demoLine, p *os.Process) {
			if !sent && l.Step == rollout.StepStart && l.Result == rollout.ResultOK && clusterOf[l.Node] != "edge" {
				during = clusterOf[l.Node]
				sent = p.Signal(os.Interrupt) == nil
			}
		}, "demo", "--supercluster", "-o", "json", "--timeout", "2m")
		if !sent || code != ExitCancelled {
			t.Fatalf("interrupt sent %v, exit %d (want %d)\nstderr:\n%s", sent, code, ExitCancelled, stderr)
		}
		s := summaryOf(t, lines, stderr)
		if s.OK || !strings.Contains(s.Error, "interrupted") {
			t.Errorf("summary: %+v", s)
		}
		for _, l := range lines {
			if l.Step == rollout.StepStop && l.Result == rollout.ResultOK && clusterOf[l.Node] != during && clusterOf[l.Node] != "edge" {
				t.Errorf("%s was stopped after the interrupt in cluster %s", l.Node, during)
			}
		}
		assertCleanedUpN(t, s, 7)
	})
}
