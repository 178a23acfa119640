// Package text holds the small wording helpers every layer shares: counts
// with their noun, lists that may be empty, errors folded onto one line,
// map keys in a stable order. It knows nothing of natsops.
package text

import (
	"fmt"
	"sort"
	"strings"
)

// Plural is n with its word, plural when n is not 1: "1 node", "3 nodes".
func Plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// OrNone joins s with ", ", or says "none" for an empty list.
func OrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// OrDash is s, or "-" when it is empty (a table cell with nothing in it).
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// OneLine is s without surrounding space and with its line breaks as
// "; ", so that a multi-line error or reading fits on one line.
func OneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// SortedKeys are m's keys in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// NonNil is s, or an empty slice for nil (JSON [] rather than null).
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Bytes is n bytes for a person: B, KiB, MiB, GiB or TiB with one
// decimal.
func Bytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= 1024
		if f < 1024 || u == "TiB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}
