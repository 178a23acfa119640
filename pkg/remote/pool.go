package remote

import (
	"context"
	"sync"

	"github.com/natsops/natsops/pkg/cluster"
)

// Pool keeps one connection per node for a run: every caller that asks
// for a node gets the same Host (deploy's reading and its rollout share
// one SSH connection per host). The hosts it hands out ignore Close;
// Close closes them all.
type Pool struct {
	connect func(ctx context.Context, n *cluster.Node) (Host, error)
	mu      sync.Mutex
	hosts   map[string]Host
}

// NewPool is a pool that reaches nodes with connect.
func NewPool(connect func(ctx context.Context, n *cluster.Node) (Host, error)) *Pool {
	return &Pool{connect: connect, hosts: map[string]Host{}}
}

// Connect returns node n's connection, dialling it the first time (a
// failed dial is not remembered: the next call tries again).
func (p *Pool) Connect(ctx context.Context, n *cluster.Node) (Host, error) {
	p.mu.Lock()
	h, ok := p.hosts[n.Name]
	p.mu.Unlock()
	if ok {
		return shared{h}, nil
	}
	h, err := p.connect(ctx, n)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.hosts[n.Name]; ok {
		// Another caller dialled it meanwhile: keep one.
		h.Close()
		return shared{prev}, nil
	}
	p.hosts[n.Name] = h
	return shared{h}, nil
}

// Forget closes node n's connection, if any: the next Connect dials
// again (a connection that failed, e.g. its host rebooted, is not handed
// out for the rest of a long run such as status --watch).
func (p *Pool) Forget(n *cluster.Node) {
	p.mu.Lock()
	h, ok := p.hosts[n.Name]
	delete(p.hosts, n.Name)
	p.mu.Unlock()
	if ok {
		h.Close()
	}
}

// Close closes every connection the pool made.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, h := range p.hosts {
		h.Close()
		delete(p.hosts, name)
	}
}

// shared is a pooled Host: its owner, the pool, closes it.
type shared struct{ Host }

func (shared) Close() error { return nil }
