package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
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
func Build(inv *cluster.Inventory, ts *Templates, nodes []*cluster.Node, env cluster.Env) *Result {
	res := &Result{}
	tls := &tlsStandIns{}
	defer tls.cleanup()
	allSecrets := map[string]string{}
	for _, n := range nodes {
		before, beforeBad := len(tls.missing), len(tls.bad)
		check, err := Render(inv, ts, n, RenderOptions{Env: env, TLSPath: tls.path})
		if err != nil {
			res.Findings = append(res.Findings, renderFinding(inv, n, err))
			continue
		}
		if len(tls.bad) > beforeBad {
			// Not handed to nats-server's validation, which would read it.
			res.Findings = append(res.Findings, Finding{Rule: RuleTLSLocal, Severity: SevError, Node: n.Name, File: inv.Path,
				Message: "TLS files that are not certificates: " + strings.Join(tls.bad[beforeBad:], "; "), Fix: "point cert_file, key_file and ca_file at PEM files"})
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
			if real, err = Render(inv, ts, n, RenderOptions{Env: env}); err != nil {
				res.Findings = append(res.Findings, renderFinding(inv, n, err))
				continue
			}
		}
		secrets := nodeSecrets(inv, n, env)
		for k, v := range secrets {
			allSecrets[k] = v
		}
		lint := lintNode(inv, n, secrets)
		res.Findings = append(res.Findings, lint...)
		res.Findings = append(res.Findings, withoutLinted(validateConfig(inv, check), lint)...)
		res.Configs = append(res.Configs, real)
	}
	res.Findings = append(res.Findings, lintInventory(inv, allSecrets)...)
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
func nodeSecrets(inv *cluster.Inventory, n *cluster.Node, env cluster.Env) map[string]string {
	out := map[string]string{}
	for _, f := range inv.Secrets(n) {
		if v, err := f.Secret.Resolve(inv.Dir, env); err == nil {
			out[f.Key] = v
		}
	}
	return out
}

func renderFinding(inv *cluster.Inventory, n *cluster.Node, err error) Finding {
	var se *SecretError
	if errors.As(err, &se) {
		line, _ := inv.NodeLine(n, se.Key), 0
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
