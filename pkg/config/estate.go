package config

import (
	"fmt"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
)

// BuildEstate renders, validates and lints the selected nodes of every
// selected cluster, then lints the estate as a whole: one Result, as
// Build gives for one cluster. nodes maps each cluster to its selected
// nodes (a cluster absent from it is not built).
func BuildEstate(est *cluster.Estate, ts *Templates, nodes map[*cluster.Inventory][]*cluster.Node, env cluster.Env) *Result {
	res := &Result{}
	for _, inv := range est.Clusters {
		ns, ok := nodes[inv]
		if !ok {
			continue
		}
		r := Build(inv, ts, ns, env)
		res.Configs = append(res.Configs, r.Configs...)
		res.Findings = append(res.Findings, r.Findings...)
	}
	res.Findings = append(res.Findings, lintEstate(est)...)
	res.Findings = dedupeFindings(res.Findings)
	sortFindings(res.Findings)
	return res
}

// lintEstate checks what concerns several clusters.
func lintEstate(est *cluster.Estate) []Finding {
	var out []Finding
	add := func(inv *cluster.Inventory, rule, key, msg, fix string) {
		out = append(out, Finding{Rule: rule, Severity: ruleSeverity(rule), Key: key, File: est.Path, Line: inv.Line(key), Message: msg, Fix: fix})
	}
	var gateways []*cluster.Inventory
	for _, inv := range est.Clusters {
		if inv.HasGateway() {
			gateways = append(gateways, inv)
		}
	}
	if len(gateways) > 1 {
		for _, inv := range gateways {
			if inv.File.Gateway.TLS == nil {
				add(inv, LGatewayNoTLS, "gateway", fmt.Sprintf("cluster %s's gateways to %s are not encrypted", inv.ClusterName(), strings.Join(otherNames(gateways, inv), ", ")), "add [gateway.tls] with cert_file, key_file and ca_file (verify = true) in the estate's [gateway]")
			}
		}
	}
	for _, inv := range est.Clusters {
		if !inv.IsLeaf() {
			continue
		}
		for i, r := range inv.File.LeafNodes.Remotes {
			if (r.User == nil || *r.User == "") && r.Credentials == nil {
				add(inv, LLeafNoCreds, fmt.Sprintf("leafnodes.remotes[%d]", i), fmt.Sprintf("cluster %s dials hub %s without credentials", inv.ClusterName(), r.Hub), fmt.Sprintf("add a [[clusters.leafnodes.users]] entry to %s and set user and password (env:NAME) on the remote, or credentials = \"/path/on/node.creds\"", r.Hub))
			}
		}
	}
	// JetStream domains: a supercluster is one domain; a cluster that
	// reaches it only through leaf nodes is another.
	type jsCluster struct {
		inv    *cluster.Inventory
		domain string
	}
	var js []jsCluster
	for _, inv := range est.Clusters {
		if len(inv.Nodes) == 0 || !inv.Nodes[0].JetStreamEnabled() {
			continue
		}
		d := ""
		if p := inv.Nodes[0].JetStream.Domain; p != nil {
			d = *p
		}
		js = append(js, jsCluster{inv, d})
		if len(inv.Nodes) == 1 && est.Multi {
			add(inv, LJetStreamSingle, "jetstream", fmt.Sprintf("cluster %s has one node: its JetStream streams can only be R1", inv.ClusterName()), "add nodes for R3 streams, or place replicated streams on a hub (the leaf's own domain keeps R1 data local)")
		}
	}
	for i, a := range js {
		for _, b := range js[i+1:] {
			joined := a.inv.HasGateway() && b.inv.HasGateway()
			switch {
			case joined && a.domain != b.domain:
				add(b.inv, LDomainClash, "jetstream.domain", fmt.Sprintf("clusters %s (domain %q) and %s (domain %q) are one supercluster but have different JetStream domains", a.inv.ClusterName(), a.domain, b.inv.ClusterName(), b.domain), "give the clusters joined by gateways the same jetstream.domain (or none)")
			case !joined && linked(a.inv, b.inv) && a.domain == b.domain:
				add(b.inv, LDomainClash, "jetstream.domain", fmt.Sprintf("clusters %s and %s are joined by leaf nodes and share the JetStream domain %q: their JetStream APIs would collide", a.inv.ClusterName(), b.inv.ClusterName(), a.domain), fmt.Sprintf("set [clusters.jetstream] domain on the leaf cluster, e.g. %q", b.inv.ClusterName()))
			}
		}
	}
	return out
}

// linked: a leaf of the other, or both reach one supercluster.
func linked(a, b *cluster.Inventory) bool {
	hubOf := func(x *cluster.Inventory) map[string]bool {
		m := map[string]bool{}
		if x.IsLeaf() {
			for _, r := range x.File.LeafNodes.Remotes {
				m[r.Hub] = true
				if h := x.Hub(r); h != nil && h.HasGateway() {
					m["*supercluster"] = true
				}
			}
		} else {
			m[x.ClusterName()] = true
			if x.HasGateway() {
				m["*supercluster"] = true
			}
		}
		return m
	}
	ha, hb := hubOf(a), hubOf(b)
	for k := range ha {
		if hb[k] {
			return true
		}
	}
	return false
}

func otherNames(cs []*cluster.Inventory, not *cluster.Inventory) []string {
	var out []string
	for _, c := range cs {
		if c != not {
			out = append(out, c.ClusterName())
		}
	}
	return out
}
