package tune

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/remote"
)

// TestObserveReadsThisMachine runs the observe script through the local
// transport, read-only: every value must match what /proc/sys says here.
func TestObserveReadsThisMachine(t *testing.T) {
	d := Desired{
		Sysctls: []Sysctl{{Name: "fs.nr_open", Value: "1"}, {Name: "net.core.somaxconn", Value: "1"}, {Name: "kernel.no_such_parameter", Value: "1"}},
		NoFile:  1024, User: "nobody", PidFile: "/nonexistent/nats.pid",
	}
	o, err := Observe(context.Background(), &remote.Local{NodeName: "local"}, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fs.nr_open", "net.core.somaxconn"} {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := o.Sysctls[name], strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, ok := o.Sysctls["kernel.no_such_parameter"]; ok {
		t.Error("a missing parameter was reported")
	}
	if o.Process.PID != 0 {
		t.Errorf("process %+v from a missing pid file", o.Process)
	}
	for _, path := range []string{d.SysctlPath(), d.LimitsPath()} {
		want, err := os.ReadFile(path)
		if f := o.Files[path]; f.Exists != (err == nil) || string(f.Data) != string(want) {
			t.Errorf("%s: observed exists=%v %q, file has %q (%v)", path, f.Exists, f.Data, want, err)
		}
	}
}
