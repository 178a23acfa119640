package cmdutil

import (
	"os"
	"testing"
)

// TestParseProcStat: field 22 (start time) counted after the command
// name's last ')', whatever the name holds; a zombie does not run.
func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		stat    string
		start   uint64
		running bool
	}{
		{"1234 (natsops) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 8 0 98765 1000 10 18446744073709551615", 98765, true},
		{"1234 (a) b) (c) R 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 8 0 42 1000 10", 42, true},
		{"1234 (natsops) Z 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 8 0 7 0 0", 7, false},
	} {
		start, running := ParseProcStat(tc.stat)
		if start != tc.start || running != tc.running {
			t.Errorf("%q: start %d running %v, want %d %v", tc.stat, start, running, tc.start, tc.running)
		}
	}
	// This process, as NewSystem reads it.
	sys := NewSystem()
	start, running := sys.ProcessStart(os.Getpid())
	if !running || start == 0 {
		t.Errorf("this process: start %d running %v", start, running)
	}
}

// TestDeadStreamStopsWriting: a stream whose reader went away (EPIPE)
// is dropped: the write that found it and every later one succeed
// without writing, so output errors never abort a run midway.
func TestDeadStreamStopsWriting(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	NewSystem() // SIGPIPE notified: the write fails with EPIPE instead of killing the test
	d := &deadStream{f: w}
	for i := 0; i < 3; i++ {
		if n, err := d.Write([]byte("line\n")); err != nil || n != 5 {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if !d.dead {
		t.Error("the closed pipe was not found dead")
	}
}
