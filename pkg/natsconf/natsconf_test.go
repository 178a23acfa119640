package natsconf

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/conf"
)

// parseValue parses `v: <token>` with nats-server's own parser and returns v.
func parseValue(t testing.TB, token string) any {
	t.Helper()
	m, err := conf.Parse("v: " + token + "\n")
	if err != nil {
		t.Fatalf("nats-server parser rejected %s: %v", token, err)
	}
	return m["v"]
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{
		"", "plain", `with "quotes"`, `back\slash`, "tab\tnl\ncr\r",
		"$2a$11$abcdefghijklmnopqrstuv", "$VAR", "a}b{c]d[", "#comment", "// x",
		"include /etc/passwd", "日志/路径.log", "\x00\x01\x7f", "\xff\xfe", "a\u2028b",
		"2m", "1MB", "true", "   spaces  ", "x\"\ny: 1",
	} {
		q := Quote(s)
		if got := parseValue(t, q); got != s {
			t.Errorf("Quote(%q) = %s parsed back as %#v", s, q, got)
		}
	}
}

func TestDurationIsNeverReadAsSeconds(t *testing.T) {
	for _, d := range []time.Duration{3 * time.Second, 2 * time.Minute, 1500 * time.Millisecond, 0} {
		got := parseValue(t, Duration(d))
		s, ok := got.(string)
		if !ok {
			t.Fatalf("Duration(%v) parsed as %T %v, want a string", d, got, got)
		}
		back, err := time.ParseDuration(s)
		if err != nil || back != d {
			t.Errorf("Duration(%v) = %s parsed back as %v (%v)", d, Duration(d), back, err)
		}
	}
}

func TestSizeIsExactBytes(t *testing.T) {
	for _, n := range []int64{0, 512, 65536, 1 << 20, 8 << 20, 1 << 40} {
		if got := parseValue(t, Size(n)); got != n {
			t.Errorf("Size(%d) parsed as %#v", n, got)
		}
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]any{3 * time.Second: int64(3), 500 * time.Millisecond: 0.5} {
		if got := parseValue(t, Seconds(d)); got != want {
			t.Errorf("Seconds(%v) parsed as %#v, want %#v", d, got, want)
		}
	}
}

// FuzzQuote: any string, quoted, is read back by nats-server as exactly
// itself, and cannot add a key to the document.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", `"`, `\`, "\n}", "$2b$x", "\xff", "\\x4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		doc := "v: " + Quote(s) + "\nw: 1\n"
		m, err := conf.Parse(doc)
		if err != nil {
			t.Fatalf("Quote(%q) gave a document the parser rejects: %v", s, err)
		}
		if m["v"] != s {
			t.Fatalf("Quote(%q) parsed back as %#v", s, m["v"])
		}
		if len(m) != 2 || m["w"] != int64(1) {
			t.Fatalf("Quote(%q) changed the document's structure: %#v", s, m)
		}
		if strings.Count(Quote(s), "\n") != 0 {
			t.Fatalf("Quote(%q) spans lines", s)
		}
	})
}
