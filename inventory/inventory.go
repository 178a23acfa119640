// Package inventory holds the example inventories, embedded so that
// `natsops init` can write the commented example and tests can load them.
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
