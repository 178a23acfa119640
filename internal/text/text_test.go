package text

import (
	"encoding/json"
	"testing"
)

func TestWords(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Plural(0, "node"), "0 nodes"},
		{Plural(1, "node"), "1 node"},
		{Plural(3, "host"), "3 hosts"},
		{OrNone(nil), "none"},
		{OrNone([]string{"a", "b"}), "a, b"},
		{OrDash(""), "-"},
		{OrDash("x"), "x"},
		{OneLine("  a\nb\n"), "a; b"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if k := SortedKeys(map[string]int{"b": 1, "a": 2, "c": 3}); len(k) != 3 || k[0] != "a" || k[2] != "c" {
		t.Errorf("SortedKeys: %v", k)
	}
	b, _ := json.Marshal(NonNil[string](nil))
	if string(b) != "[]" {
		t.Errorf("NonNil(nil) marshals to %s", b)
	}
}
