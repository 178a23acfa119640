package bench_test

import (
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/bench"
	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmdutil"
)

func parse(t *testing.T, args ...string) (string, *bench.Options, int) {
	t.Helper()
	var which string
	var got *bench.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return bench.NewCmd(f, func(w string, o *bench.Options) error { which, got = w, o; return nil })
	}, append([]string{"bench"}, args...)...)
	return which, got, code
}

func TestFlags(t *testing.T) {
	w, o, code := parse(t, "pubsub", "--pub", "2", "--sub", "10", "--msgs", "100", "--size", "16", "--subject", "s", "--user", "u", "--timeout", "1m")
	if code != 0 || w != "pubsub" || o.Pubs != 2 || o.Subs != 10 || o.Msgs != 100 || o.Size != 16 || o.Subject != "s" || o.User != "u" || o.Timeout != time.Minute {
		t.Fatalf("pubsub: exit %d, %s %+v", code, w, o)
	}
	w, o, code = parse(t, "connections", "--target", "200", "--step", "50", "--hold", "1s", "--client", "nats")
	if code != 0 || w != "connections" || o.Target != 200 || o.Step != 50 || o.Hold != time.Second || o.Client != "nats" || o.Timeout != 10*time.Minute {
		t.Fatalf("connections: exit %d, %s %+v", code, w, o)
	}
	for _, bad := range [][]string{
		{"pubsub", "--pub", "0"}, {"pubsub", "--sub", "0"}, {"pubsub", "--msgs", "0"}, {"pubsub", "--size", "-1"}, {"pubsub", "--timeout", "0s"},
		{"connections", "--target", "0"}, {"connections", "--step", "0"}, {"connections", "--hold", "-1s"}, {"connections", "--client", "fast"}, {"connections", "--timeout", "-1s"},
	} {
		if _, o, code := parse(t, bad...); o != nil || code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, run called %v; want 64 before the run", bad, code, o != nil)
		}
	}
}
