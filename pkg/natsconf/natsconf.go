// Package natsconf writes values in the nats-server configuration format.
//
// It is the only place where a Go value becomes a config token, so that no
// string from an inventory can change a rendered file's structure and no
// duration or size can be misread by nats-server's lexer (conf/lex.go): an
// unquoted 2m is the integer 2000000, "1MB" in quotes is a string, and only
// \t \n \r \" \\ and \xHH are legal escapes inside double quotes.
//
// It knows nothing about inventories or nodes.
package natsconf

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Quote returns s as a double-quoted config string that nats-server's parser
// reads back as exactly s, whatever bytes s holds. Printable Unicode stays
// readable; control characters, invalid UTF-8 and the quote and backslash
// are escaped.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError && size <= 1, !unicode.IsPrint(r):
			// Escape every byte of the rune, so the parser reassembles the
			// exact original bytes.
			for j := 0; j < size; j++ {
				b.WriteString(`\x`)
				b.WriteString(hex2(s[i+j]))
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

// Duration returns d as a quoted Go duration string ("3s", "2m0s"), the only
// form every nats-server version parses as a duration and never as seconds.
func Duration(d time.Duration) string {
	return `"` + d.String() + `"`
}

// Seconds returns d as a number of seconds, for the few options (such as
// authorization timeout) that older servers only accept as a number.
func Seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// Size returns n as a plain integer byte count: unambiguous, where "1MB",
// 1MB and 1M are three different things to the parser.
func Size(n int64) string {
	return strconv.FormatInt(n, 10)
}

// Int returns n as a config integer.
func Int(n int64) string {
	return strconv.FormatInt(n, 10)
}

// Bool returns b as a config boolean.
func Bool(b bool) string {
	return strconv.FormatBool(b)
}
