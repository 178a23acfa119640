package remote

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

type countingHost struct {
	Local
	closed *int
}

func (h *countingHost) Close() error { *h.closed++; return nil }

// One connection per node however many callers ask at once; a failed
// dial is retried; the pool closes what it dialled, callers' Close does
// nothing.
func TestPool(t *testing.T) {
	var mu sync.Mutex
	dials, closed := map[string]int{}, 0
	fail := true
	p := NewPool(func(ctx context.Context, n *cluster.Node) (Host, error) {
		mu.Lock()
		defer mu.Unlock()
		if n.Name == "b" && fail {
			fail = false
			return nil, errors.New("connection refused")
		}
		dials[n.Name]++
		return &countingHost{Local{NodeName: n.Name}, &closed}, nil
	})
	a := &cluster.Node{Name: "a"}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := p.Connect(context.Background(), a)
			if err != nil {
				t.Error(err)
				return
			}
			h.Close()
		}()
	}
	wg.Wait()
	if _, err := p.Connect(context.Background(), &cluster.Node{Name: "b"}); err == nil {
		t.Fatal("first dial of b should fail")
	}
	if _, err := p.Connect(context.Background(), &cluster.Node{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	kept := closed
	mu.Unlock()
	// Racing dials of a may have made extra connections; each extra one
	// was closed at once, one stays.
	if dials["b"] != 1 || kept != dials["a"]-1 {
		t.Errorf("dials %v, closed %d before Close", dials, kept)
	}
	p.Close()
	if closed != dials["a"]+dials["b"] {
		t.Errorf("closed %d of %d", closed, dials["a"]+dials["b"])
	}
}

// Forget closes a node's connection and the next Connect dials again;
// forgetting a node never dialled does nothing.
func TestPoolForget(t *testing.T) {
	dials, closed := 0, 0
	p := NewPool(func(ctx context.Context, n *cluster.Node) (Host, error) {
		dials++
		return &countingHost{Local{NodeName: n.Name}, &closed}, nil
	})
	a := &cluster.Node{Name: "a"}
	p.Forget(a)
	for range 2 {
		if _, err := p.Connect(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	p.Forget(a)
	if dials != 1 || closed != 1 {
		t.Fatalf("after Forget: %d dials, %d closed", dials, closed)
	}
	if _, err := p.Connect(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if dials != 2 || closed != 2 {
		t.Errorf("%d dials, %d closed", dials, closed)
	}
}
