package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/internal/fanout"
	"github.com/natsops/natsops/internal/text"
)

// HostResult is one host's outcome in a fan-out (Name, Err: nil when
// done, Elapsed, Started).
type HostResult = fanout.Result

// Results are a fan-out's outcomes, in input order.
type Results []HostResult

// Failed lists the hosts that failed.
func (rs Results) Failed() []string {
	var out []string
	for _, r := range rs {
		if r.Err != nil {
			out = append(out, r.Name)
		}
	}
	return out
}

// Err is nil when every host succeeded; otherwise one error listing the
// failed hosts, then each host's error on its own line.
func (rs Results) Err() error {
	failed := rs.Failed()
	if len(failed) == 0 {
		return nil
	}
	errs := []error{fmt.Errorf("%d of %d hosts failed: %s", len(failed), len(rs), strings.Join(failed, ", "))}
	for _, r := range rs {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}

// Summary writes one line per host: "n1  ok      1.2s" or
// "n2  FAILED  0.3s  <error>".
func (rs Results) Summary(w io.Writer) {
	width := 0
	for _, r := range rs {
		width = max(width, len(r.Name))
	}
	for _, r := range rs {
		el := r.Elapsed.Round(time.Millisecond)
		if r.Err == nil {
			fmt.Fprintf(w, "%-*s  ok      %s\n", width, r.Name, el)
		} else {
			fmt.Fprintf(w, "%-*s  FAILED  %s  %s\n", width, r.Name, el, text.OneLine(r.Err.Error()))
		}
	}
}

// OneLine is a host's error on one line, starting with the host's name
// (added when the error does not already say it).
func OneLine(host string, err error) string {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ; ")), " ")
	msg = strings.ReplaceAll(msg, " ; ", "; ")
	if !strings.HasPrefix(msg, host) {
		msg = host + ": " + msg
	}
	return msg
}

// Each runs fn for every item with at most parallel running at once
// (parallel <= 0: every item at once; --parallel is at least 1). A
// failing item does not stop the others; a panic in fn becomes that
// item's error. name labels results. When ctx is done, items not yet
// started fail with ctx's error ("n1: not started: context canceled").
// internal/fanout is the fan-out; this names its results as hosts.
func Each[T any](ctx context.Context, items []T, parallel int, name func(T) string, fn func(context.Context, T) error) Results {
	return Results(fanout.Each(ctx, items, parallel, name, fn))
}

// Output serialises line-prefixed output from concurrent hosts onto one
// writer: each host's lines come out whole, never interleaved mid-line.
type Output struct {
	mu    sync.Mutex
	w     io.Writer
	width int
}

// NewOutput writes to w, padding prefixes to the longest of names so
// columns line up.
func NewOutput(w io.Writer, names ...string) *Output {
	o := &Output{w: w}
	for _, n := range names {
		o.width = max(o.width, len(n))
	}
	return o
}

// Prefix returns a writer for one host: every line written to it comes
// out as "name | line". Call Close to flush a last line without a newline.
func (o *Output) Prefix(name string) *PrefixWriter {
	return &PrefixWriter{o: o, prefix: fmt.Sprintf("%-*s | ", o.width, name)}
}

// PrefixWriter is one host's line-prefixing writer (see Output.Prefix).
// It is safe for concurrent use.
type PrefixWriter struct {
	o      *Output
	prefix string
	mu     sync.Mutex
	buf    []byte
}

// Write implements io.Writer.
func (p *PrefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	i := bytes.LastIndexByte(p.buf, '\n')
	if i < 0 {
		return len(b), nil
	}
	err := p.emit(p.buf[:i+1])
	p.buf = append(p.buf[:0], p.buf[i+1:]...)
	return len(b), err
}

// Close flushes a pending partial line (adding a newline).
func (p *PrefixWriter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) == 0 {
		return nil
	}
	err := p.emit(append(p.buf, '\n'))
	p.buf = p.buf[:0]
	return err
}

func (p *PrefixWriter) emit(lines []byte) error {
	var out bytes.Buffer
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		out.WriteString(p.prefix)
		out.Write(lines[:i+1])
		lines = lines[i+1:]
	}
	p.o.mu.Lock()
	defer p.o.mu.Unlock()
	_, err := p.o.w.Write(out.Bytes())
	return err
}
