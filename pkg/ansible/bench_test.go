package ansible

import (
	"encoding/json"
	"fmt"
	"testing"
)

// bigInventory is an --export document of n hosts in 20 zone groups under
// "nats", with group vars on every level (the costlier shape to merge).
func bigInventory(b *testing.B, n int) []byte {
	hostvars := map[string]any{}
	groups := map[string]any{}
	zones := []string{}
	for z := 0; z < 20; z++ {
		name := fmt.Sprintf("zone_%02d", z)
		zones = append(zones, name)
		var hosts []string
		for i := z; i < n; i += 20 {
			h := fmt.Sprintf("nats-%05d.example.internal", i)
			hosts = append(hosts, h)
			hostvars[h] = map[string]any{"ansible_host": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "ansible_user": "ops", "ansible_port": 22}
		}
		groups[name] = map[string]any{"hosts": hosts, "vars": map[string]any{"nats_tags": []string{name}}}
	}
	groups["nats"] = map[string]any{"children": zones, "vars": map[string]any{"ansible_ssh_common_args": "-o ProxyJump=ops@bastion:2200", "ansible_python_interpreter": "/usr/bin/python3"}}
	groups["all"] = map[string]any{"children": []string{"nats"}}
	groups["_meta"] = map[string]any{"hostvars": hostvars}
	doc, err := json.Marshal(groups)
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

// BenchmarkImport: parse, map, write and check (cluster.Parse) a group of
// 500 hosts (512 is an inventory's most).
func BenchmarkImport(b *testing.B) {
	doc := bigInventory(b, 500)
	b.SetBytes(int64(len(doc)))
	b.ResetTimer()
	for b.Loop() {
		inv, err := Parse("big.json", doc)
		if err != nil {
			b.Fatal(err)
		}
		res, err := Import(inv, Options{Group: "nats"})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Nodes) != 500 {
			b.Fatalf("%d nodes", len(res.Nodes))
		}
	}
}
