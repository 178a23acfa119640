package cmdutil

import (
	"bytes"
	"strings"
	"testing"
)

// TestResultEnvelope: the result's own keys come first and once; a
// command's fields of the same name are dropped, the others keep their
// order; a stream's result is one line with "event": "result".
func TestResultEnvelope(t *testing.T) {
	var b bytes.Buffer
	o := &output{w: &b}
	o.setResult(struct {
		OK    bool   `json:"ok"`
		Zed   int    `json:"zed"`
		Alpha string `json:"alpha"`
		Error string `json:"error"`
	}{true, 1, "a", "stale"})
	o.finish(true, ExitPending, "")
	if got, want := b.String(), `{"event":"result","ok":false,"exit_code":2,"zed":1,"alpha":"a"}`+"\n"; got != want {
		t.Errorf("stream result:\n got %s\nwant %s", got, want)
	}
	o.finish(true, 0, "") // once
	if bytes.Count(b.Bytes(), []byte("\n")) != 1 {
		t.Errorf("finish wrote twice:\n%s", b.String())
	}

	b.Reset()
	o = &output{w: &b}
	o.event("step", map[string]any{"event": "spoofed", "node": "n1"})
	o.finish(false, ExitUsage, "bad flag")
	want := `{"event":"step","node":"n1"}` + "\n" + "{\n  \"ok\": false,\n  \"exit_code\": 64,\n  \"error\": \"bad flag\"\n}\n"
	if b.String() != want {
		t.Errorf("document:\n got %q\nwant %q", b.String(), want)
	}
}

func TestJSONRequested(t *testing.T) {
	for args, want := range map[string]bool{
		"validate -o json":       true,
		"-ojson validate":        true,
		"--output=json validate": true,
		"validate -- -o json":    false,
		"validate -o text":       false,
	} {
		if got := jsonRequested(strings.Fields(args)); got != want {
			t.Errorf("%q: %v", args, got)
		}
	}
}
