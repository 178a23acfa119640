package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/config"
)

// output is the one path to stdout for -o json (docs/output.md): a
// command either streams events (JSON Lines) or builds one document, and
// the root ends both with the result, which always carries "ok" and
// "exit_code" ("event": "result" on a stream's last line). Writes are
// serialised: progress arrives from other goroutines.
type output struct {
	mu     sync.Mutex
	w      io.Writer
	result []byte // the command's fields of the result (a JSON object)
	done   bool
}

// reserved are the result's own keys; a command's fields of the same
// name are dropped so each key appears once.
var reserved = []string{"event", "ok", "exit_code", "error"}

// event writes one line {"event": kind, ...v's fields}.
func (o *output) event(kind string, v any) {
	fields, err := objectFields(v)
	if err != nil {
		fields = []field{{"error", mustMarshal(err.Error())}}
	}
	line := encodeObject(append([]field{{"event", mustMarshal(kind)}}, fields...))
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w.Write(append(line, '\n'))
}

// setResult keeps v's fields for the result.
func (o *output) setResult(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = nil
	}
	o.mu.Lock()
	o.result = b
	o.mu.Unlock()
}

// finish writes the result once: a stream's last line, or the document
// (indented) of a command that does not stream.
func (o *output) finish(stream bool, code int, msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.done = true
	head := []field{{"ok", mustMarshal(code == ExitOK)}, {"exit_code", mustMarshal(code)}}
	if msg != "" {
		head = append(head, field{"error", mustMarshal(msg)})
	}
	if stream {
		head = append([]field{{"event", mustMarshal("result")}}, head...)
	}
	var rest []field
	if o.result != nil {
		rest, _ = rawFields(o.result)
	}
	doc := encodeObject(append(head, rest...))
	if !stream {
		var b bytes.Buffer
		if json.Indent(&b, doc, "", "  ") == nil {
			doc = b.Bytes()
		}
	}
	o.w.Write(append(doc, '\n'))
}

type field struct {
	key string
	raw json.RawMessage
}

func mustMarshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// objectFields are v's JSON object fields in order, less the reserved
// ones; v must marshal to an object.
func objectFields(v any) ([]field, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return rawFields(bytes.TrimSpace(buf.Bytes()))
}

// rawFields splits a JSON object into its fields, in order, dropping the
// reserved keys.
func rawFields(b []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object: %.40s", b)
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		skip := false
		for _, r := range reserved {
			skip = skip || key == r
		}
		if !skip {
			out = append(out, field{key, raw})
		}
	}
	return out, nil
}

func encodeObject(fs []field) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustMarshal(f.key))
		b.WriteByte(':')
		b.Write(f.raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// jsonRequested finds -o json in a command line whose flags did not parse
// (a usage error stops cobra before it sets --output).
func jsonRequested(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "-ojson", a == "-o=json", a == "--output=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// InvalidConfigs is the error of a build with errors: "N errors in FILE"
// after the findings were printed (text) or for the result (JSON).
func InvalidConfigs(what string, fs []config.Finding, path string) error {
	return fmt.Errorf("%s%s in %s", what, text.Plural(config.Count(fs, config.SevError), "error"), path)
}
