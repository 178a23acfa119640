package remote

import (
	"context"
	"os/exec"
	"testing"
)

func TestQuoteThroughRealShell(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", "a b", "$(id)", "`id`", "x;rm -rf /", "\n", "\\", "'\"'", "-n", "ü日本", "*", "~root"} {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("Quote(%q) = %s: sh printed %q (%v)", s, Quote(s), out, err)
		}
	}
}

// FuzzQuote: any string without NUL passes through a real sh -c unchanged.
// (NUL cannot be in an argv string at all; callers refuse it.)
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "'", "a'b", "$HOME", "\x01\xff", "--", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				return
			}
		}
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Fatalf("Quote(%q) = %s: sh printed %q (%v)", s, Quote(s), out, err)
		}
	})
}

func TestLocalRun(t *testing.T) {
	h := &Local{NodeName: "n1"}
	res, err := h.Run(context.Background(), Command("sh", "-c", "echo out; echo err >&2; exit 3"), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
		t.Errorf("got %+v", res)
	}
	if e := res.Err(h, "probe"); e == nil || e.Error() != "n1: probe: exit 3: err" {
		t.Errorf("Err = %v", e)
	}
	res, err = h.Run(context.Background(), "cat", RunOptions{Stdin: []byte("in")})
	if err != nil || string(res.Stdout) != "in" {
		t.Errorf("stdin: %q %v", res.Stdout, err)
	}
}
