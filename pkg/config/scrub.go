package config

import (
	"sort"
	"strings"
)

// Scrub replaces every secret value in s with a placeholder. Messages from
// nats-server's parser may quote the line they failed on; nothing that
// reaches a user may carry a secret.
func Scrub(s string, secrets []string) string {
	sorted := append([]string(nil), secrets...)
	// Longest first, so a route URL is replaced before the password in it.
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, v := range sorted {
		if len(v) < 3 {
			// Too short to scrub without mangling the message; such a
			// secret is refused by lint anyway.
			continue
		}
		s = strings.ReplaceAll(s, v, Masked)
	}
	return s
}
