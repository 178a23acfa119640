package cluster

import (
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// locator maps inventory key paths ("server.max_payload",
// "node[1].server.port") to the line and column where they were written, so
// errors found after decoding can still point at the file.
type locator struct {
	pos   map[string][2]int
	kinds map[string]unstable.Kind // value kind of every key = value
	lines []int                    // byte offset of each line start
	// prefix is set on a cluster's view of an estate file
	// ("clusters[1]"): its keys are looked up under the cluster first,
	// then, for settings, estate-wide.
	prefix string
}

// view is l as cluster i of an estate sees it: "node[0].host" is
// "clusters[i].node[0].host", "cluster.port" is "clusters[i].port" (or the
// estate's [cluster] default), "server.port" is "clusters[i].server.port"
// or the estate's "server.port".
func (l *locator) view(prefix string) *locator {
	v := *l
	v.prefix = prefix
	return &v
}

func (l *locator) expand(paths []string) []string {
	if l.prefix == "" {
		return paths
	}
	out := make([]string, 0, 2*len(paths))
	for _, p := range paths {
		switch {
		case p == "cluster":
			out = append(out, l.prefix, p)
		case strings.HasPrefix(p, "cluster."):
			out = append(out, l.prefix+"."+strings.TrimPrefix(p, "cluster."), p)
		case strings.HasPrefix(p, "node[") || strings.HasPrefix(p, "node.") || p == "node" || strings.HasPrefix(p, "leafnodes"):
			out = append(out, l.prefix+"."+p)
		default:
			out = append(out, l.prefix+"."+p, p)
		}
	}
	return out
}

func newLocator(data []byte) *locator {
	l := &locator{pos: map[string][2]int{}, kinds: map[string]unstable.Kind{}, lines: []int{0}}
	for i, c := range data {
		if c == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	p := &unstable.Parser{}
	p.Reset(data)
	table := ""
	arrays := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			name := l.keyPath(e.Key(), arrays, e.Kind == unstable.ArrayTable)
			if e.Kind == unstable.ArrayTable {
				arrays[name]++
				name += "[" + strconv.Itoa(arrays[name]-1) + "]"
				// Nested tables under this entry restart their own counts.
				for k := range arrays {
					if strings.HasPrefix(k, name+".") {
						delete(arrays, k)
					}
				}
			}
			table = name
			l.record(table, e.Child())
		case unstable.KeyValue:
			l.keyValue(table, e, arrays)
		}
	}
	// A parse error leaves the map partial; the decoder reports the error.
	return l
}

// keyPath joins a header's key parts. Inside [[node]] entries, "node.server"
// means the newest node's server table; an array header's own last part is
// left bare (the caller numbers it).
func (l *locator) keyPath(it unstable.Iterator, arrays map[string]int, arrayHeader bool) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
		if arrayHeader && it.IsLast() {
			break
		}
		joined := strings.Join(parts, ".")
		if n, ok := arrays[joined]; ok {
			parts = []string{joined + "[" + strconv.Itoa(n-1) + "]"}
		}
	}
	return strings.Join(parts, ".")
}

func (l *locator) keyValue(table string, e *unstable.Node, arrays map[string]int) {
	var parts []string
	it := e.Key()
	var first *unstable.Node
	for it.Next() {
		if first == nil {
			first = it.Node()
		}
		parts = append(parts, string(it.Node().Data))
	}
	path := strings.Join(parts, ".")
	if table != "" {
		path = table + "." + path
	}
	l.record(path, first)
	l.kinds[path] = e.Value().Kind
	if v := e.Value(); v.Kind == unstable.InlineTable {
		children := v.Children()
		for children.Next() {
			if c := children.Node(); c.Kind == unstable.KeyValue {
				l.keyValue(path, c, arrays)
			}
		}
	}
}

func (l *locator) record(path string, n *unstable.Node) {
	if n == nil || path == "" {
		return
	}
	if _, seen := l.pos[path]; seen {
		return
	}
	off := int(n.Raw.Offset)
	line := sort.Search(len(l.lines), func(i int) bool { return l.lines[i] > off })
	l.pos[path] = [2]int{line, off - l.lines[line-1] + 1}
}

// find returns the line and column of the first of paths that was written;
// when none was, the nearest enclosing table that was. 0 when nothing is
// known.
func (l *locator) find(paths ...string) (line, col int) {
	if l == nil {
		return 0, 0
	}
	paths = l.expand(paths)
	for _, p := range paths {
		if pc, ok := l.pos[p]; ok {
			return pc[0], pc[1]
		}
	}
	for _, p := range paths {
		for q := p; ; {
			i := strings.LastIndexAny(q, ".[")
			if i <= 0 {
				break
			}
			q = q[:i]
			if pc, ok := l.pos[q]; ok {
				return pc[0], pc[1]
			}
		}
	}
	return 0, 0
}

// bareDurations reports every duration written as a number: nats-server
// reads a bare 2 as two seconds and a bare 2m as 2000000 seconds, so the
// inventory only takes quoted durations.
func (l *locator) bareDurations(file string) []Problem {
	var out []Problem
	durType := reflect.TypeOf(Duration{})
	for path, kind := range l.kinds {
		if kind == unstable.String || fieldType(path) != durType {
			continue
		}
		pc := l.pos[path]
		out = append(out, Problem{File: file, Line: pc[0], Col: pc[1], Key: path,
			Msg: "a duration must be a quoted string, got a TOML " + strings.ToLower(kind.String()),
			Fix: `write it like "3s" or "2m" (a bare number is read as seconds by nats-server and is refused here)`})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// Line is the inventory line where the first of the key paths that was
// written is ("server.max_payload", "node[1].server.port"), or the nearest
// enclosing table written; 0 when nothing is known.
func (inv *Inventory) Line(paths ...string) int {
	line, _ := inv.loc.find(paths...)
	return line
}

// NodeLine is the line that sets key for node n: its own [node.*]
// override, or the cluster-wide setting.
func (inv *Inventory) NodeLine(n *Node, key string) int {
	return inv.Line(nodeKey(n.Index, key)...)
}
