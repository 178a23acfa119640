package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
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
		natsFs := validateConfig(inv, check)
		if ts.fsys != nil && len(natsFs) > 0 {
			natsFs = blameTemplates(inv, ts, n, RenderOptions{Env: env, TLSPath: tls.path}, natsFs)
		}
		res.Findings = append(res.Findings, withoutLinted(natsFs, lint)...)
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

// blameTemplates tells, of the nats-server findings fs on node n's config
// rendered with the --templates ts, those a template introduced: the same
// inventory rendered with the embedded templates does not have them, so
// the value comes from the template, not the inventory. Those name the
// template file (the one that writes the key) and the fix there.
func blameTemplates(inv *cluster.Inventory, ts *Templates, n *cluster.Node, opts RenderOptions, found []Finding) []Finding {
	embedded, err := LoadTemplates(nil)
	if err != nil {
		return found
	}
	r, err := Render(inv, embedded, n, opts)
	if err != nil {
		return found
	}
	stock := map[string]bool{}
	for _, f := range validateConfig(inv, r) {
		stock[f.Rule+"\x00"+f.conf] = true
	}
	out := make([]Finding, len(found))
	for i, f := range found {
		out[i] = f
		if f.conf == "" || stock[f.Rule+"\x00"+f.conf] {
			continue
		}
		file, line := ts.fileWriting(f.conf)
		out[i].File, out[i].Line, out[i].Key = file, line, ""
		out[i].Message = "from the template, not the inventory: " + f.Message
		out[i].Fix = fmt.Sprintf("the value of %s comes from the template %s: change it there (the inventory does not set it)", f.conf, file)
	}
	return out
}

// fileWriting is the --templates file that writes config key conf
// (dotted: its last part is searched, as "leaf:") and the line it does,
// or the directory (line 0) when none or several do.
func (ts *Templates) fileWriting(conf string) (string, int) {
	leaf := conf[strings.LastIndex(conf, ".")+1:]
	names, _ := fs.Glob(ts.fsys, "*.tmpl")
	var hits []string
	line := 0
	for _, name := range names {
		b, err := fs.ReadFile(ts.fsys, name)
		if err != nil {
			continue
		}
		for j, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), leaf+":") || strings.HasPrefix(strings.TrimSpace(l), leaf+" ") {
				hits, line = append(hits, name), j+1
				break
			}
		}
	}
	if len(hits) == 1 {
		if ts.dir == "" {
			return hits[0], line
		}
		return filepath.Join(ts.dir, hits[0]), line
	}
	if ts.dir == "" {
		return "the --templates directory", 0
	}
	return ts.dir, 0
}
