// Package inventory holds the example inventories, embedded so that
// `natsops init` can write the commented example, `natsops demo` can start
// the local cluster, and tests can load them.
package inventory

import (
	"bytes"
	_ "embed"
)

//go:embed example.toml
var example []byte

// Example returns example.toml: the seed's deployment as a 3-node cluster,
// commented key by key.
func Example() []byte { return bytes.Clone(example) }

//go:embed local.toml
var local []byte

// Local returns local.toml: 3 nodes on 127.0.0.1 run as local processes
// (pidfile mode), the cluster `natsops demo` starts (on free ports).
func Local() []byte { return bytes.Clone(local) }

//go:embed local-supercluster.toml
var localSupercluster []byte

// LocalSupercluster returns local-supercluster.toml: an estate of two
// 3-node regions joined by gateways and a one-node edge site attached as
// a leaf node, on 127.0.0.1 as local processes (what `natsops demo
// --supercluster` starts, on free ports).
func LocalSupercluster() []byte { return bytes.Clone(localSupercluster) }
