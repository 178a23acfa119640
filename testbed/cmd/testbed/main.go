// Command testbed brings natsops's Docker testbed up and down and injects
// faults. It is normally run through testbed/testbed.sh (make testbed-up,
// make testbed-down, make e2e), which builds the node image first.
//
//	testbed up [-n N] [-image IMAGE] [-dir DIR]
//	testbed bare [-n N] [-dir DIR]
//	testbed estate [-dir DIR]
//	testbed down
//	testbed status [-dir DIR]
//	testbed fault NAME NODE [-dir DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/natsops/natsops/testbed"
)

func usage() {
	fmt.Fprintf(os.Stderr, `usage:
  testbed up [-n N] [-image IMAGE] [-dir DIR] [-keep]  start N nodes (default 3, max %d)
  testbed bare [-n N] [-dir DIR]                start N bare nodes b1.. beside a running testbed (default 3, max %d)
  testbed estate [-dir DIR]                     start the estate (east-1,2 west-1,2 edge-1) beside a running testbed
  testbed down                                  remove every testbed container and network
  testbed status [-dir DIR]                     SSH and /healthz per node (the estate's too, when up)
  testbed fault NAME NODE [-dir DIR]            faults (on testbed and estate nodes): %s
`, testbed.MaxNodes, testbed.MaxBare, testbed.FaultNames())
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	n := fs.Int("n", 3, "number of nodes")
	image := fs.String("image", testbed.DefaultImage, "node image")
	keep := fs.Bool("keep", false, "up: keep the containers when up fails")
	dir := fs.String("dir", "testbed/out", "output directory (key, known_hosts, inventory.toml)")
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "testbed: "+format+"\n", args...)
	}
	var err error
	switch os.Args[1] {
	case "up":
		fs.Parse(os.Args[2:])
		start := time.Now()
		var tb *testbed.Testbed
		tb, err = testbed.Up(ctx, testbed.Options{Nodes: *n, Image: *image, Dir: *dir, Log: logf})
		if err != nil && !*keep {
			logf("up failed, removing what was started (-keep to leave it for debugging)")
			if derr := testbed.Down(context.Background()); derr != nil {
				logf("down: %v", derr)
			}
		}
		if err == nil {
			logf("%d nodes healthy in %.1fs; inventory: %s", len(tb.Nodes), time.Since(start).Seconds(), tb.InventoryFile)
		}
	case "bare":
		fs.Parse(os.Args[2:])
		var tb, bare *testbed.Testbed
		if tb, err = testbed.Load(*dir); err == nil {
			start := time.Now()
			if bare, err = tb.UpBare(ctx, *n, logf); err == nil {
				logf("%d bare nodes ready in %.1fs; inventory: %s", len(bare.Nodes), time.Since(start).Seconds(), bare.InventoryFile)
			}
		}
	case "estate":
		fs.Parse(os.Args[2:])
		var tb *testbed.Testbed
		var est *testbed.Estate
		if tb, err = testbed.Load(*dir); err == nil {
			start := time.Now()
			if est, err = tb.UpEstate(ctx, logf); err == nil {
				logf("%d estate nodes healthy in %.1fs; inventory: %s (one cluster at a time: --cluster east|west|edge)", len(est.Nodes), time.Since(start).Seconds(), est.InventoryFile)
			}
		}
	case "down":
		fs.Parse(os.Args[2:])
		err = testbed.Down(context.Background()) // not cancelled by Ctrl-C
		if derr := testbed.DownEstate(context.Background(), *dir); err == nil {
			err = derr // the estate's state file
		}
	case "status":
		fs.Parse(os.Args[2:])
		var tb *testbed.Testbed
		if tb, err = testbed.Load(*dir); err == nil {
			beds := []*testbed.Testbed{tb}
			if est, e := testbed.LoadEstate(*dir); e == nil {
				beds = append(beds, est.Testbed)
			}
			for _, b := range beds {
				for _, nd := range b.Nodes {
					ssh := "ok"
					if out, e := b.Run(ctx, nd.Name, testbed.User, "systemctl is-active nats-server"); e != nil {
						ssh = fmt.Sprintf("%v %s", e, out)
					}
					hz := "ok"
					if code, body, e := b.HTTPGet(ctx, nd.Name, "/healthz"); e != nil {
						hz = e.Error()
					} else if code != 200 {
						hz = fmt.Sprintf("%d %s", code, body)
					}
					fmt.Printf("%-4s %-14s ssh+nats-server: %s  healthz: %s\n", nd.Name, nd.Host, ssh, hz)
				}
			}
		}
	case "fault":
		if len(os.Args) < 4 {
			usage()
		}
		name, node := os.Args[2], os.Args[3]
		fs.Parse(os.Args[4:])
		f, ok := testbed.Faults[name]
		if !ok {
			usage()
		}
		var tb *testbed.Testbed
		if tb, err = testbed.Load(*dir); err == nil {
			if _, e := tb.Node(node); e != nil {
				// Not one of the testbed's: one of the estate's?
				if est, e := testbed.LoadEstate(*dir); e == nil {
					tb = est.Testbed
				}
			}
			err = f(tb, ctx, node)
		}
	default:
		usage()
	}
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "testbed:") {
			msg = "testbed: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}
