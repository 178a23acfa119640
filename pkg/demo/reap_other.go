//go:build !linux

package demo

// Reap is a no-op where a process cannot become a subreaper: the
// system's init reaps the demo's servers.
func (c *Cluster) Reap() (stop func()) { return func() {} }
