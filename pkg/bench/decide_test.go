package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		target, step int
		want         []int
	}{
		{100000, 10000, []int{10000, 20000, 30000, 40000, 50000, 60000, 70000, 80000, 90000, 100000}},
		{25, 10, []int{10, 20, 25}},
		{300, 1000, []int{300}},
		{300, 0, []int{300}},
		{3, 1, []int{1, 2, 3}},
		{0, 10, nil},
	} {
		if got := Steps(tc.target, tc.step); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Steps(%d, %d) = %v, want %v", tc.target, tc.step, got, tc.want)
		}
	}
}

func TestCheckClientFDs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		conns      int
		soft, hard uint64
		want       []string // nil: fits
	}{
		{"fits", 10000, 20000, 20000, nil},
		{"exactly", 20000 - ClientFDReserve, 20000, 20000, nil},
		{"above soft, below hard", 30000, 20000, 1 << 20, []string{"--target needs about 30064", "may open only 20000", "`ulimit -n 30064`", "or lower --target"}},
		{"above hard", 100000, 20000, 20000, []string{"above the hard limit 20000", "LimitNOFILE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckClientFDs("--target", tc.conns, tc.soft, tc.hard)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a LimitError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}

func TestSourceIP(t *testing.T) {
	for _, tc := range []struct {
		dest string
		i    int
		want string
	}{
		{"127.0.0.1", 0, "127.0.0.1"},
		{"127.0.0.1", 1, "127.0.0.2"},
		{"127.0.0.1", 250, "127.0.0.1"},
		{"127.0.0.1", 499, "127.0.0.250"},
		{"10.0.0.5", 3, "<nil>"},
		{"::1", 3, "<nil>"},
	} {
		if got := SourceIP(net.ParseIP(tc.dest), tc.i); fmt.Sprint(got) != tc.want {
			t.Errorf("SourceIP(%s, %d) = %v, want %s", tc.dest, tc.i, got, tc.want)
		}
	}
}

func opErr(errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
}

type netTimeout struct{}

func (netTimeout) Error() string   { return "i/o timeout" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *Failure
		c    Context
		want Cause
	}{
		{"no failure", nil, Context{}, CauseTargetReached},
		{"Ctrl-C wins", &Failure{Phase: PhaseConnect, ServerErr: "maximum connections exceeded"}, Context{Interrupted: true}, CauseInterrupted},
		{"--timeout", nil, Context{TimedOut: true}, CauseTimeout},
		{"max connections", &Failure{Phase: PhaseConnect, ServerErr: "maximum connections exceeded"}, Context{MonitorAnswers: true}, CauseMaxConnections},
		{"max connections on INFO, case", &Failure{Phase: PhaseInfo, ServerErr: "Maximum Connections Exceeded"}, Context{}, CauseMaxConnections},
		{"broken pipe at max_connections", &Failure{Phase: PhaseInfo, Err: opErr(syscall.EPIPE)}, Context{MonitorAnswers: true, Connections: 300, MaxConnections: 300}, CauseMaxConnections},
		{"broken pipe below max_connections", &Failure{Phase: PhaseInfo, Err: opErr(syscall.EPIPE)}, Context{MonitorAnswers: true, Connections: 200, MaxConnections: 300}, CauseServerRefused},
		{"auth", &Failure{Phase: PhaseConnect, ServerErr: "Authorization Violation"}, Context{MonitorAnswers: true}, CauseAuth},
		{"other -ERR", &Failure{Phase: PhaseConnect, ServerErr: "Stale Connection"}, Context{MonitorAnswers: true}, CauseServerRefused},
		{"client EMFILE", &Failure{Phase: PhaseDial, Err: opErr(syscall.EMFILE)}, Context{MonitorAnswers: true}, CauseClientFDLimit},
		{"client ENFILE", &Failure{Phase: PhaseDial, Err: opErr(syscall.ENFILE)}, Context{}, CauseClientFDLimit},
		{"no local address", &Failure{Phase: PhaseDial, Err: opErr(syscall.EADDRNOTAVAIL)}, Context{MonitorAnswers: true}, CauseEphemeralPorts},
		{"no local port on bind", &Failure{Phase: PhaseDial, Err: opErr(syscall.EADDRINUSE)}, Context{MonitorAnswers: true}, CauseEphemeralPorts},
		{"refused", &Failure{Phase: PhaseDial, Err: opErr(syscall.ECONNREFUSED)}, Context{}, CauseServerRefused},
		{"no INFO, :8222 silent", &Failure{Phase: PhaseInfo, Err: netTimeout{}}, Context{}, CauseServerOutOfFDs},
		{"no INFO, :8222 answers now and then", &Failure{Phase: PhaseInfo, Err: netTimeout{}}, Context{MonitorAnswers: true}, CauseServerOutOfFDs},
		{"no TCP accept, :8222 answers", &Failure{Phase: PhaseDial, Err: netTimeout{}}, Context{MonitorAnswers: true}, CauseTimeout},
		{"SYN unanswered (backlog full), :8222 silent", &Failure{Phase: PhaseDial, Err: netTimeout{}}, Context{}, CauseServerOutOfFDs},
		{"connect timeout errno, :8222 silent", &Failure{Phase: PhaseDial, Err: opErr(syscall.ETIMEDOUT)}, Context{}, CauseServerOutOfFDs},
		{"no PONG in time is not fds", &Failure{Phase: PhaseConnect, Err: netTimeout{}}, Context{}, CauseServerRefused},
		{"closed before INFO", &Failure{Phase: PhaseInfo, Err: opErr(syscall.ECONNRESET)}, Context{MonitorAnswers: true}, CauseServerRefused},
		{"host limit known and reached", &Failure{Phase: PhaseInfo, Err: opErr(syscall.ECONNRESET)}, Context{MonitorAnswers: true, Connections: 9900, HostFDLimit: 10000}, CauseServerOutOfFDs},
		{"host shows the server at its limit, :8222 silent", &Failure{Phase: PhaseDial, Err: netTimeout{}}, Context{MonitorAnswers: true, HostFDsOpen: 2046, HostFDLimit: 2048}, CauseServerOutOfFDs},
		{"host shows descriptors free", &Failure{Phase: PhaseDial, Err: netTimeout{}}, Context{MonitorAnswers: true, HostFDsOpen: 1000, HostFDLimit: 2048}, CauseTimeout},
		{"host limit known, far", &Failure{Phase: PhaseInfo, Err: netTimeout{}}, Context{MonitorAnswers: true, Connections: 100, HostFDLimit: 10000}, CauseTimeout},
		{"dropped while held", &Failure{Phase: PhaseHold, Err: errors.New("EOF")}, Context{}, CauseConnectionsDropped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.f, tc.c); got != tc.want {
				t.Errorf("Classify = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted: 100..1
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"none", nil, Latency{}},
		{"one", ms(7), Latency{1, 7, 7, 7}},
		{"two", ms(9, 1), Latency{2, 1, 9, 9}},
		{"1..100 shuffled", ms(hundred...), Latency{100, 50, 99, 100}},
		{"outlier", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 500), Latency{10, 1, 500, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentiles(tc.in); got != tc.want {
				t.Errorf("Percentiles = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []int
		want int
		c    Completeness
	}{
		{"no subscribers is not complete", nil, 10, Completeness{Want: 10}},
		{"all", []int{10, 10, 10}, 10, Completeness{Complete: true, Subscribers: 3, Want: 10}},
		{"one short", []int{10, 7, 10}, 10, Completeness{Subscribers: 3, Incomplete: 1, Want: 10, Short: 3, MaxShort: 3}},
		{"several", []int{0, 9, 5}, 10, Completeness{Subscribers: 3, Incomplete: 3, Want: 10, Short: 16, MaxShort: 10}},
		{"duplicates are extra, not short", []int{11, 10}, 10, Completeness{Complete: true, Subscribers: 2, Want: 10, Extra: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Complete(tc.got, tc.want); got != tc.c {
				t.Errorf("Complete = %+v, want %+v", got, tc.c)
			}
		})
	}
}

func TestPerThousandAndRate(t *testing.T) {
	if got := PerThousand(10<<20, 50<<20, 10, 1010); got != 40<<20 {
		t.Errorf("PerThousand = %d", got)
	}
	if got := PerThousand(10<<20, 0, 10, 1010); got != 0 {
		t.Errorf("PerThousand without a memory reading = %d", got)
	}
	// Memory fell while connections grew (the server returned memory to
	// the OS): not a negative cost per connection.
	if got := PerThousand(100<<20, 30<<20, 0, 1050); got != 0 {
		t.Errorf("PerThousand with memory falling = %d, want 0 (never negative)", got)
	}
	if got := PerThousand(10, 5, 10, 10); got != 0 {
		t.Errorf("PerThousand without growth = %d", got)
	}
	if got := Rate(500, 2*time.Second); got != 250 {
		t.Errorf("Rate = %v", got)
	}
	if got := Rate(5, 0); got != 0 {
		t.Errorf("Rate over no time = %v", got)
	}
}

func TestDrained(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		complete                bool
		sinceProgress, sinceRun time.Duration
		want                    bool
	}{
		{true, 0, 0, true},
		{false, 1 * s, 2 * s, false},
		{false, 5 * s, 6 * s, true},
		{false, 0, 60 * s, true},
	} {
		if got := Drained(tc.complete, tc.sinceProgress, 5*s, tc.sinceRun, 60*s); got != tc.want {
			t.Errorf("Drained(%+v) = %v", tc, got)
		}
	}
}
