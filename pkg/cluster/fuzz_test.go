package cluster

import (
	"errors"
	"os"
	"testing"
)

// FuzzLoad: the loader never panics; it either accepts the input or
// refuses it with problems that have a message and the file. (Rendering of
// accepted inventories is fuzzed by FuzzRoundTrip; building here made each
// exec slow enough that minimizing stalled the fuzzer.)
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"../../inventory/example.toml", "../../inventory/local.toml", "../config/testdata/full.toml", "../config/testdata/single.toml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(base))
	f.Add([]byte("[[node]]\nname='a'\nhost='h'\n[node.server]\nport=0\n"))
	f.Add([]byte("[server]\nwrite_deadline = 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("fuzz.toml", data)
		if err != nil {
			var ie *InventoryError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("error without problems: %T %v", err, err)
			}
			for _, p := range ie.Problems {
				if p.Msg == "" || p.File != "fuzz.toml" {
					t.Fatalf("problem without message or file: %+v", p)
				}
			}
		}
	})
}
