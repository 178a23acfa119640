package cluster

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Result is the outcome of building configs for a set of nodes.
type Result struct {
	Configs  []*Rendered
	Findings []Finding
}

// OK reports whether no finding at or above sev was found (SevError for a
// normal run, SevWarning for --strict).
func (r *Result) OK(failAt Severity) bool {
	for _, f := range r.Findings {
		if f.Severity.rank() <= failAt.rank() {
			return false
		}
	}
	return true
}

// Build renders, validates and lints the given nodes. It never touches a
// host. The configs are only usable when r.OK(SevError).
func (inv *Inventory) Build(ts *Templates, nodes []*Node, env Env) *Result {
	res := &Result{}
	tls := &tlsStandIns{}
	defer tls.cleanup()
	allSecrets := map[string]string{}
	for _, n := range nodes {
		before := len(tls.missing)
		check, err := inv.Render(ts, n, RenderOptions{Env: env, TLSPath: tls.path})
		if err != nil {
			res.Findings = append(res.Findings, inv.renderFinding(n, err))
			continue
		}
		real := check
		if len(tls.missing) > before {
			if tls.err != nil {
				res.Findings = append(res.Findings, Finding{Rule: RuleTLSLocal, Severity: SevError, Node: n.Name, File: inv.Path,
					Message: "cannot create stand-in TLS files for validation: " + tls.err.Error()})
				continue
			}
			res.Findings = append(res.Findings, Finding{Rule: RuleTLSLocal, Severity: SevInfo, Node: n.Name, File: inv.Path,
				Message: fmt.Sprintf("TLS files %s are not on this machine; validated with stand-ins, checked on the node at deploy", strings.Join(dedupe(tls.missing[before:]), ", "))})
			if real, err = inv.Render(ts, n, RenderOptions{Env: env}); err != nil {
				res.Findings = append(res.Findings, inv.renderFinding(n, err))
				continue
			}
		}
		secrets := inv.nodeSecrets(n, env)
		for k, v := range secrets {
			allSecrets[k] = v
		}
		lint := inv.lintNode(n, secrets)
		res.Findings = append(res.Findings, lint...)
		res.Findings = append(res.Findings, withoutLinted(inv.validateConfig(check), lint)...)
		res.Configs = append(res.Configs, real)
	}
	res.Findings = append(res.Findings, inv.lintInventory(allSecrets)...)
	res.Findings = dedupeFindings(res.Findings)
	sortFindings(res.Findings)
	return res
}

// withoutLinted drops nats-server errors about a key that lint already
// reported as an error: lint's message says the same with the fix.
func withoutLinted(natsFindings, lint []Finding) []Finding {
	out := natsFindings[:0]
	for _, f := range natsFindings {
		dup := false
		for _, l := range lint {
			if l.Severity == SevError && f.Severity == SevError && f.Key != "" && l.Key == f.Key {
				dup = true
			}
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}

// nodeSecrets resolves the node's secrets by key, for lint (length checks).
func (inv *Inventory) nodeSecrets(n *Node, env Env) map[string]string {
	out := map[string]string{}
	try := func(key string, s *Secret) {
		if s == nil {
			return
		}
		if v, err := s.Resolve(inv.Dir, env); err == nil {
			out[key] = v
		}
	}
	a := n.Server.Auth
	try("server.auth.password", a.Password)
	try("server.auth.token", a.Token)
	for i := range a.Users {
		if a.Users[i].NKey == "" {
			try(fmt.Sprintf("server.auth.users[%d].password", i), &a.Users[i].Password)
		}
	}
	try("cluster.password", inv.File.Cluster.Password)
	return out
}

func (inv *Inventory) renderFinding(n *Node, err error) Finding {
	var se *SecretError
	if errors.As(err, &se) {
		line, _ := inv.loc.find(nodeKey(n.Index, se.Key)...)
		return Finding{Rule: RuleSecret, Severity: SevError, Node: n.Name, Key: se.Key, File: inv.Path, Line: line, Message: se.Err.Error()}
	}
	return Finding{Rule: RuleParse, Severity: SevError, Node: n.Name, File: inv.Path, Message: err.Error(), Fix: "check the template (--templates)"}
}

// dedupeFindings folds findings that are the same apart from the node (a
// cluster-wide setting reported once per node) into one that lists nodes.
func dedupeFindings(fs []Finding) []Finding {
	type k struct{ rule, key, msg string }
	idx := map[k]int{}
	var out []Finding
	for _, f := range fs {
		key := k{f.Rule, f.Key, f.Message}
		if i, ok := idx[key]; ok && f.Node != "" {
			out[i].Node += "," + f.Node
			continue
		}
		idx[key] = len(out)
		out = append(out, f)
	}
	return out
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// Select returns the nodes matching --limit patterns (names or globs), in
// inventory order; no patterns selects all. A pattern that matches nothing
// is an error: a typo must not silently act on zero nodes.
func (inv *Inventory) Select(patterns []string) ([]*Node, error) {
	if len(patterns) == 0 {
		return inv.Nodes, nil
	}
	var out []*Node
	matched := map[string]bool{}
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("--limit %q is not a valid pattern: %v", p, err)
		}
		hit := false
		for _, n := range inv.Nodes {
			ok, _ := path.Match(p, n.Name)
			if ok {
				hit = true
				matched[n.Name] = true
			}
		}
		if !hit {
			return nil, fmt.Errorf("--limit %q matches no node in %s (nodes: %s)", p, inv.Path, strings.Join(inv.NodeNames(), ", "))
		}
	}
	for _, n := range inv.Nodes {
		if matched[n.Name] {
			out = append(out, n)
		}
	}
	return out, nil
}

// NodeNames lists the node names in inventory order.
func (inv *Inventory) NodeNames() []string {
	names := make([]string, len(inv.Nodes))
	for i, n := range inv.Nodes {
		names[i] = n.Name
	}
	return names
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
