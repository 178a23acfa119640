package config

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/pmezard/go-difflib/difflib"
)

// SecretsChangedNote ends a diff whose secret values differ: they are
// never shown, but a rotated password is still a pending change.
const SecretsChangedNote = "# secret values differ (not shown)\n"

// Diff is a unified diff from the deployed config to the rendered one,
// secrets masked on both sides; "" when equal.
func Diff(node, path string, deployed []byte, exists bool, rendered []byte) string {
	from := path + " (" + node + ")"
	if !exists {
		from = "/dev/null"
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(MaskConfig(deployed))), B: difflib.SplitLines(string(MaskConfig(rendered))),
		FromFile: from, ToFile: path + " (natsops)", Context: 3,
	})
	if exists && !reflect.DeepEqual(secretsOf(deployed), secretsOf(rendered)) {
		d += SecretsChangedNote
	}
	return d
}

// secretsOf are a config's credentials by key path, as nats-server's
// parser reads them; a config that does not parse is compared by the
// lines the masking hides.
func secretsOf(text []byte) any {
	if m, err := conf.Parse(string(text)); err == nil {
		return secretValues(m)
	}
	var out []string
	for _, l := range strings.Split(string(text), "\n") {
		if maskLine(l) != l {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// reloadable are the config keys nats-server applies on a reload (SIGHUP;
// server/reload.go). Anything else changed needs a restart. Deliberately
// short: when in doubt, restart. Of an estate's keys: gateway (but its
// TLS files), system_account and no_auth_user do not reload; leafnodes
// users and listener do not, and its remotes only from 2.14
// (getLeafNodeOptionsChanges), so a leafnodes change restarts on every
// version; accounts do reload in nats-server, but adding the system
// account that way does not take (TestDeployScalesALocalClusterOutAndIn
// restarts for it), so an accounts change restarts too.
func reloadable(key string) bool {
	switch key {
	case "authorization", "max_connections", "max_payload", "max_control_line",
		"write_deadline", "ping_interval", "ping_max", "debug", "trace", "logtime",
		"log_file", "tls", "server_tags", "pid_file",
		"cluster.routes", "cluster.authorization":
		return true
	}
	return false
}

// Change is what differs between a deployed and a rendered config, by
// config key, and whether a reload applies it.
type Change struct {
	Keys          []string `json:"keys"`
	NeedsRestart  bool     `json:"needs_restart"`
	RestartReason []string `json:"restart_keys,omitempty"`
	// Unrollable says why old and new servers cannot run side by side
	// (nats-server refuses the connection between them): a rolling
	// deploy would split the cluster at its first node. Each entry names
	// the key and the nats-server v2.15.2 source line that refuses.
	Unrollable []string `json:"unrollable,omitempty"`
}

// unrollable says why a change of key from old to new cannot roll one
// node at a time, or "". Only refusals verified in nats-server's source:
//
//   - cluster.name: a route from a server whose cluster name differs is
//     rejected, "Rejecting connection, cluster name %q does not match %q"
//     (server/route.go:3109, v2.15.2; nats-server#2429), unless one side
//     has no name (a dynamic name, taken from the remote: route.go:3088-
//     3104).
func unrollable(key string, old, cur map[string]any) string {
	if key != "cluster.name" {
		return ""
	}
	o, _ := sub(old, "cluster")["name"].(string)
	n, _ := sub(cur, "cluster")["name"].(string)
	if o == "" || n == "" || o == n {
		return ""
	}
	return fmt.Sprintf("cluster.name %q -> %q: nats-server rejects routes between servers whose cluster names differ (\"Rejecting connection, cluster name ... does not match ...\", server/route.go:3109 in v2.15.2, nats-server#2429), so a renamed node cannot rejoin the nodes not yet renamed", o, n)
}

func sub(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}

// Classify compares the option trees of two configs (comments ignored).
// A deployed config that does not parse needs a restart.
func Classify(deployed, rendered []byte) Change {
	var ch Change
	old, err1 := conf.Parse(string(deployed))
	cur, err2 := conf.Parse(string(rendered))
	if err1 != nil || err2 != nil {
		return Change{Keys: []string{"(whole file)"}, NeedsRestart: true, RestartReason: []string{"the deployed config does not parse"}}
	}
	for _, k := range changedKeys(old, cur) {
		ch.Keys = append(ch.Keys, k)
		if why := unrollable(k, old, cur); why != "" {
			ch.Unrollable = append(ch.Unrollable, why)
		}
		if !reloadable(k) {
			ch.NeedsRestart = true
			ch.RestartReason = append(ch.RestartReason, k)
		}
	}
	return ch
}

// changedKeys lists top-level keys that differ, descending one level into
// cluster (whose routes and authorization reload, but host and port not).
func changedKeys(a, b map[string]any) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if reflect.DeepEqual(a[k], b[k]) {
			continue
		}
		am, aok := a[k].(map[string]any)
		bm, bok := b[k].(map[string]any)
		if k == "cluster" && aok && bok {
			for _, sub := range changedKeys(am, bm) {
				out = append(out, "cluster."+sub)
			}
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c Change) String() string {
	if len(c.Keys) == 0 {
		return "no change"
	}
	if c.NeedsRestart {
		return fmt.Sprintf("restart needed (%s)", strings.Join(c.RestartReason, ", "))
	}
	return fmt.Sprintf("reload (%s)", strings.Join(c.Keys, ", "))
}

// Digest is the digest nats-server (2.11 and later) reports as /varz
// config_digest for a config it loaded from this text (and `nats-server
// -t` prints): sha256 of its parsed tree as JSON. Running = desired is
// then one comparison, whatever the file on the host says.
func Digest(text []byte) (string, error) {
	m, err := conf.ParseWithChecks(string(text))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(m); err != nil {
		return "", err
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil)), nil
}
