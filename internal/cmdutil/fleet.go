package cmdutil

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/health"
)

// PrintFleet is one cluster's status table, as `natsops status` shows it
// (the demo shows it the same way), and below it the reasons it is not
// healthy.
func PrintFleet(w io.Writer, st Style, f *health.Fleet) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHEALTH\tVERSION\tUPTIME\tCONNS\tFDS\tSLOW\tROUTES\tJETSTREAM\tMEM\tCPU")
	for _, r := range f.Nodes {
		health := r.Healthz
		fds := r.FDs
		if len(fds) > 48 {
			fds = fds[:47] + "…)"
		}
		switch {
		case !r.Reachable && r.Diagnosis != "":
			health = st.Red(r.Diagnosis)
		case !r.Reachable:
			health = st.Red("unreachable")
		case health == "ok":
			health = st.Green("ok")
		default:
			health = st.Yellow(health)
		}
		if !r.Reachable {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\t-\t-\t%s\t-\t-\n", r.Node, health, fds, r.JetStream)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%d\t%d/%d\t%s\t%s\t%.0f%%\n", r.Node, health, r.Version, r.Uptime,
			r.Connections, r.Capacity, fds, r.SlowConsumers, r.RoutesSeen, r.RoutesWant, r.JetStream, humanBytes(r.MemBytes), r.CPU)
	}
	tw.Flush()
	if f.Healthy {
		if f.Cluster != "" {
			fmt.Fprintf(w, "\n%s: cluster %s: %s healthy\n", f.Inventory, f.Cluster, text.Plural(len(f.Nodes), "node"))
			return
		}
		fmt.Fprintf(w, "\n%s: %s healthy\n", f.Inventory, text.Plural(len(f.Nodes), "node"))
		return
	}
	fmt.Fprintf(w, "\nnot healthy:\n")
	for _, r := range f.Reasons {
		fmt.Fprintf(w, "  %s: %s [%s]\n", r.Node, r.Msg, r.Code)
	}
}

// PrintClusters prints several clusters' tables one after another under
// their names (one cluster: its table alone).
func PrintClusters(w io.Writer, st Style, fs []*health.Fleet) {
	if len(fs) == 1 {
		PrintFleet(w, st, fs[0])
		return
	}
	for i, f := range fs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "cluster %s\n", f.Cluster)
		PrintFleet(w, st, f)
	}
}

func humanBytes(n int64) string {
	const mib = 1 << 20
	if n >= 1<<30 {
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%dMiB", (n+mib/2)/mib)
}
