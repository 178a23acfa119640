package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/conf"

	"github.com/natsops/natsops/pkg/natsconf"
)

// secretKey reports a config key whose value nats-server treats as a
// credential, at any depth (authorization, cluster, gateway and leaf node
// authorization, account users, leaf remotes).
func secretKey(k string) bool {
	switch strings.ToLower(k) {
	case "password", "pass", "token", "auth_token", "seed":
		return true
	}
	return false
}

// secretValues walks a parsed config and returns every credential in it,
// by key path: the values of secret keys, and the password of every URL
// that carries one (route, gateway and leaf node URLs).
func secretValues(m map[string]any) map[string]string {
	out := map[string]string{}
	var walk func(path string, v any, secret bool)
	walk = func(path string, v any, secret bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				walk(path+"."+k, vv, secretKey(k))
			}
		case []any:
			for i, vv := range x {
				walk(path+"["+strconv.Itoa(i)+"]", vv, secret)
			}
		case string:
			if secret {
				out[path] = x
				return
			}
			if strings.Contains(x, "://") {
				if u, err := url.Parse(x); err == nil && u.User != nil {
					if pw, ok := u.User.Password(); ok {
						out[path+"#password"] = pw
					}
				}
			}
		default:
			if secret && x != nil {
				out[path] = fmt.Sprint(x)
			}
		}
	}
	walk("", m, false)
	return out
}

// MaskConfig hides every secret in a nats-server config, in whatever
// syntax it is written: nats-server's own parser finds the credentials
// (passwords, tokens, seeds at any depth, passwords in URLs), and every
// occurrence of each value in the text, bare or quoted, becomes
// "<secret>". What the parser cannot see is masked by line: a secret key
// anywhere on a line hides the rest of it, and so does any URL's
// userinfo. It works on any config text, including a deployed one whose
// secrets natsops never saw, so a diff cannot show an old password either.
func MaskConfig(text []byte) []byte {
	s := string(text)
	if m, err := conf.Parse(s); err == nil {
		vals := secretValues(m)
		var vs []string
		for _, v := range vals {
			if v != "" && !slices.Contains(vs, v) {
				vs = append(vs, v)
			}
		}
		// Longest first: a password inside a longer one is replaced with it.
		sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
		for _, v := range vs {
			s = replaceToken(s, v)
		}
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = maskLine(l)
	}
	return []byte(strings.Join(lines, "\n"))
}

// replaceToken replaces every occurrence of secret v in s, in each form a
// config can hold it in: natsops's quoting, and the raw value (bare,
// single- or double-quoted, or inside a URL). Short values are replaced
// only as whole tokens, so a two-letter password does not mangle the
// file.
func replaceToken(s, v string) string {
	if q := natsconf.Quote(v); q != `"`+v+`"` {
		s = strings.ReplaceAll(s, q, `"`+Masked+`"`)
	}
	if len(v) >= 6 {
		return strings.ReplaceAll(s, v, Masked)
	}
	// Bytes, not a regexp: a secret need not be valid UTF-8.
	const before, after = " \t:=,[{(\"'@/", " \t,}])\"';#@"
	var b strings.Builder
	for {
		k := strings.Index(s, v)
		if k < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := k + len(v)
		whole := (k == 0 || strings.IndexByte(before, s[k-1]) >= 0 || s[k-1] == '\n') &&
			(end == len(s) || strings.IndexByte(after, s[end]) >= 0 || s[end] == '\n' || s[end] == '\r')
		b.WriteString(s[:k])
		if whole {
			b.WriteString(Masked)
		} else {
			b.WriteString(v)
		}
		s = s[end:]
	}
}

var (
	// secretKeyRE finds a secret key on a line, however it is written
	// (key: v, key=v, key v, "key": v), at the start or after { , [.
	secretKeyRE = regexp.MustCompile(`(?i)(^|[\s{,\[;])("?'?(?:password|pass|token|auth_token|seed)'?"?)(\s*[:=]\s*|\s+)`)
	userinfoRE  = regexp.MustCompile(`(://)[^/@\s"']+@`)
)

// maskLine hides, on one line, everything after a secret key up to the
// end of its value (the next , } or ] outside quotes, or the line's end)
// and any URL's userinfo.
func maskLine(line string) string {
	line = userinfoRE.ReplaceAllString(line, "${1}"+Masked+"@")
	// A comment is not a setting: "# the password rotates monthly" stays.
	l, comment := line, ""
	if c := commentStart(line); c >= 0 {
		l, comment = line[:c], line[c:]
	}
	return maskSettings(l) + comment
}

// commentStart is where a comment (# or //) starts on l outside quotes,
// or -1.
func commentStart(l string) int {
	var q byte
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case q != 0:
			if c == '\\' && q == '"' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '#', c == '/' && i+1 < len(l) && l[i+1] == '/':
			return i
		}
	}
	return -1
}

func maskSettings(l string) string {
	out := ""
	for {
		loc := secretKeyRE.FindStringSubmatchIndex(l)
		if loc == nil {
			return out + l
		}
		valStart := loc[1]
		end := valueEnd(l, valStart)
		val := strings.TrimRight(l[valStart:end], " \t")
		if val == `"`+Masked+`"` || val == Masked {
			out += l[:end]
			l = l[end:]
			continue
		}
		out += l[:valStart] + `"` + Masked + `"`
		l = l[end:]
	}
}

// valueEnd is where a config value starting at i ends on line l: after
// its closing quote, or at the first , } ] ; # outside quotes (a # inside
// quotes is part of the value).
func valueEnd(l string, i int) int {
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	if i < len(l) && (l[i] == '"' || l[i] == '\'') {
		q := l[i]
		for j := i + 1; j < len(l); j++ {
			switch {
			case l[j] == '\\' && q == '"':
				j++
			case l[j] == q:
				return j + 1
			}
		}
		return len(l)
	}
	for j := i; j < len(l); j++ {
		switch l[j] {
		case ',', '}', ']', ';', '#':
			return j
		}
	}
	return len(l)
}
