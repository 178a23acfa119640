package testinv

import (
	"slices"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

// TestEstate: the shared estate is valid, and WithNode adds a node to
// the cluster named, in the middle of the file as at its end.
func TestEstate(t *testing.T) {
	est, err := cluster.ParseEstate("est.toml", []byte(Estate))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(est.Names(), []string{"east", "west", "edge"}) {
		t.Fatalf("clusters %v", est.Names())
	}
	src := WithNode(WithNode(Estate, "west", "w2", "10.0.2.2"), "edge", "x2", "10.0.3.2")
	est, err = cluster.ParseEstate("est.toml", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	for i, want := range [][]string{{"e1", "e2"}, {"w1", "w2"}, {"x1", "x2"}} {
		if got := est.Clusters[i].NodeNames(); !slices.Equal(got, want) {
			t.Errorf("%s: nodes %v, want %v", est.Clusters[i].ClusterName(), got, want)
		}
	}
}
