// Package ansible turns an Ansible inventory, as `ansible-inventory --list`
// prints it, into a commented natsops inventory for one of its groups.
//
// The boundary is real: this package reads another tool's format (groups,
// children, group and host vars, OpenSSH arguments) and decides what of it
// natsops can honour; pkg/cluster owns natsops's own format and never
// learns Ansible's. The result is checked by pkg/cluster before anyone
// writes it, so an import never produces an inventory natsops refuses.
//
// What is mapped, per host of the group (its children's hosts included,
// depth first, each once): ansible_host (else the inventory hostname, when
// it is a host name or an IP address) → host; ansible_port → ssh.port;
// ansible_user → ssh.user; ansible_ssh_private_key_file →
// ssh.identity_file; ProxyJump in ansible_ssh_common_args or
// ansible_ssh_extra_args (-J, -o ProxyJump=, or -o ProxyCommand="ssh -W
// %h:%p ... host") → ssh.proxy_jump; ansible_connection local → connection
// "local"; and the natsops variables nats_server_name (node name),
// nats_cluster_name, nats_route_host and nats_tags. Every other variable is
// named as ignored, never with its value.
package ansible

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Inventory is a parsed `ansible-inventory --list` document.
type Inventory struct {
	// Source names the document in errors (a file, or "stdin").
	Source string
	groups map[string]*group
	// member lists, per host, the groups with vars it belongs to
	// (directly or through children): what --export output needs merged.
	member map[string][]string
	// depth is each group's depth, for the order group vars merge in.
	depth map[string]int
	// hostvars are _meta.hostvars: each host's variables (with --list,
	// its groups' variables already merged in; with --export, only its own).
	hostvars map[string]map[string]any
}

// group is one group as the JSON has it.
type group struct {
	Hosts    []string       `json:"hosts"`
	Children []string       `json:"children"`
	Vars     map[string]any `json:"vars"`
}

type meta struct {
	Hostvars map[string]map[string]any `json:"hostvars"`
}

// Parse reads the JSON of `ansible-inventory --list` (or --list --export).
// Anything else, malformed JSON above all, is an *Error of KindInvalid
// naming source and, for JSON syntax, the line and column.
func Parse(source string, data []byte) (*Inventory, error) {
	invalid := func(msg, fix string) error {
		return &Error{Kind: KindInvalid, Problems: []Problem{{Source: source, Msg: msg, Fix: fix}}}
	}
	const fixList = "give natsops the output of: ansible-inventory -i YOUR_INVENTORY --list"
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, invalid("empty input, not the JSON of ansible-inventory --list", fixList)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := position(data, se.Offset)
			return nil, invalid(fmt.Sprintf("line %d, column %d: not valid JSON: %v", line, col, se), fixList)
		case errors.As(err, &te):
			return nil, invalid(fmt.Sprintf("the document is a JSON %s, not the object ansible-inventory --list prints", te.Value), fixList)
		}
		return nil, invalid(fmt.Sprintf("not valid JSON: %v", err), fixList)
	}
	if top == nil {
		return nil, invalid("the document is JSON null, not the object ansible-inventory --list prints", fixList)
	}
	_, hasAll := top["all"]
	_, hasMeta := top["_meta"]
	if !hasAll && !hasMeta {
		keys := slices.Sorted(maps.Keys(top))
		found := "no keys at all"
		if len(keys) > 0 {
			if len(keys) > 8 {
				keys = append(keys[:8], "...")
			}
			found = "keys " + strings.Join(quoteAll(keys), ", ")
		}
		return nil, invalid(fmt.Sprintf("not an Ansible inventory: ansible-inventory --list always prints the groups \"all\" and \"_meta\", this has %s", found), fixList)
	}
	inv := &Inventory{Source: source, groups: map[string]*group{}, hostvars: map[string]map[string]any{}}
	for _, name := range slices.Sorted(maps.Keys(top)) {
		raw := top[name]
		if name == "_meta" {
			var m meta
			// Not strict: a later Ansible may add keys beside hostvars.
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, invalid(fmt.Sprintf("_meta: %v", strings.TrimPrefix(err.Error(), "json: ")), "_meta holds hostvars: {\"HOST\": {\"VAR\": value}}; "+fixList)
			}
			for h, vars := range m.Hostvars {
				if vars == nil {
					vars = map[string]any{}
				}
				inv.hostvars[h] = vars
			}
			continue
		}
		var g group
		if err := strictDecode(raw, &g); err != nil {
			return nil, invalid(fmt.Sprintf("group %s: %v", printable(name), err), "a group is {\"hosts\": [...], \"children\": [...], \"vars\": {...}}; "+fixList)
		}
		inv.groups[name] = &g
	}
	var problems []Problem
	for _, name := range slices.Sorted(maps.Keys(inv.groups)) {
		for _, c := range inv.groups[name].Children {
			if _, ok := inv.groups[c]; !ok && !implicitGroup(c) {
				problems = append(problems, Problem{Source: source, Group: name, Msg: fmt.Sprintf("lists child group %s, which the document does not define", printable(c)), Fix: fixList})
			}
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Kind: KindInvalid, Problems: problems}
	}
	inv.depth = inv.depths()
	inv.member = map[string][]string{}
	for _, g := range slices.Sorted(maps.Keys(inv.groups)) {
		if len(inv.groups[g].Vars) == 0 {
			continue
		}
		hosts, _ := inv.Hosts(g)
		for _, h := range hosts {
			inv.member[h] = append(inv.member[h], g)
		}
	}
	return inv, nil
}

// implicitGroup: ansible-inventory lists "ungrouped" (and sometimes "all")
// as children without a body when they are empty.
func implicitGroup(name string) bool { return name == "ungrouped" || name == "all" }

// strictDecode decodes one group or _meta, refusing keys Ansible does not print.
func strictDecode(raw json.RawMessage, v any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field != "" {
				return fmt.Errorf("%s is a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type.String()))
			}
			return fmt.Errorf("is a JSON %s, want an object", te.Value)
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array of " + strings.TrimPrefix(goType, "[]") + "s"
	case strings.HasPrefix(goType, "map["):
		return "an object"
	}
	return "a " + goType
}

// position turns a byte offset (as encoding/json reports it: the bytes
// read, the bad one included) into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset > 0 {
		offset-- // the offending byte itself
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// Groups are the group names, sorted.
func (inv *Inventory) Groups() []string {
	names := slices.Sorted(maps.Keys(inv.groups))
	return names
}

// Hosts are the hosts of group name: its own, then each child's (depth
// first, in the order the document lists them), each host once. ok is
// false when the group does not exist.
func (inv *Inventory) Hosts(name string) (hosts []string, ok bool) {
	if _, ok := inv.groups[name]; !ok {
		return nil, false
	}
	seen := map[string]bool{}
	visited := map[string]bool{}
	var walk func(string)
	walk = func(g string) {
		if visited[g] {
			return // a cycle (Ansible refuses them; a hand-made file may not)
		}
		visited[g] = true
		grp := inv.groups[g]
		if grp == nil {
			return
		}
		for _, h := range grp.Hosts {
			if !seen[h] {
				seen[h] = true
				hosts = append(hosts, h)
			}
		}
		for _, c := range grp.Children {
			walk(c)
		}
	}
	walk(name)
	return hosts, true
}

// Vars are host h's variables: with --list output its hostvars as they
// are; with --export output (groups carrying "vars") its groups' vars
// merged first, as Ansible does: shallower groups first, then by
// ansible_group_priority, then by name, the host's own vars last.
func (inv *Inventory) Vars(h string) map[string]any {
	depth := inv.depth
	member := append([]string(nil), inv.member[h]...)
	sort.SliceStable(member, func(i, j int) bool {
		a, b := member[i], member[j]
		if depth[a] != depth[b] {
			return depth[a] < depth[b]
		}
		if pa, pb := priority(inv.groups[a].Vars), priority(inv.groups[b].Vars); pa != pb {
			return pa < pb
		}
		return a < b
	})
	out := map[string]any{}
	for _, g := range member {
		for k, v := range inv.groups[g].Vars {
			out[k] = v
		}
	}
	for k, v := range inv.hostvars[h] {
		out[k] = v
	}
	return out
}

func priority(vars map[string]any) float64 {
	if p, ok := vars["ansible_group_priority"].(float64); ok {
		return p
	}
	return 1
}

// depths are each group's depth as Ansible counts it: the longest path
// from a group no other group lists as a child ("all").
func (inv *Inventory) depths() map[string]int {
	depth := map[string]int{}
	var visit func(g string, d int, path map[string]bool)
	visit = func(g string, d int, path map[string]bool) {
		if path[g] || (d <= depth[g] && d > 0) {
			return
		}
		if d > depth[g] {
			depth[g] = d
		}
		path[g] = true
		if grp := inv.groups[g]; grp != nil {
			for _, c := range grp.Children {
				visit(c, d+1, path)
			}
		}
		delete(path, g)
	}
	child := map[string]bool{}
	for _, g := range inv.groups {
		for _, c := range g.Children {
			child[c] = true
		}
	}
	for _, g := range slices.Sorted(maps.Keys(inv.groups)) {
		if !child[g] {
			visit(g, 0, map[string]bool{})
		}
	}
	return depth
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		if s == "..." {
			out[i] = s
			continue
		}
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
