package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Input bounds: no input makes natsops run out of memory, hang, or work
// for minutes. An inventory describes one cluster: a few nodes, a few
// tags each; these limits are far above any real one and far below what
// makes nats-server's validation (quadratic in tags) or the routes
// (quadratic in nodes) slow.
const (
	// MaxInventoryBytes bounds the inventory file.
	MaxInventoryBytes = 1 << 20
	// MaxSecretBytes bounds a file: secret.
	MaxSecretBytes = 64 << 10
	// MaxNodes bounds the nodes of one inventory.
	MaxNodes = 512
	// MaxListItems bounds each list of a node (tags, users, subjects).
	MaxListItems = 256
	// MaxUsers bounds the client users.
	MaxUsers = 10000
)

// ReadBounded reads a regular file of at most limit bytes: a directory, a
// FIFO (which would block), a device (/dev/zero: endless) or a larger
// file is refused before anything is read into memory.
func ReadBounded(path string, limit int64) ([]byte, error) {
	// Stat before open: opening a FIFO blocks until a writer comes.
	if err := CheckRegular(path, limit); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", kind(st.Mode()))
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%d bytes, more than the %d natsops reads", st.Size(), limit)
	}
	// A file that grows while read still stops at the limit.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errors.New("it grew past the size natsops reads")
	}
	return b, nil
}

// CheckRegular refuses a path that is not a regular file of at most limit
// bytes (for files another program reads: TLS certificates given to
// nats-server's validation).
func CheckRegular(path string, limit int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return unwrapPathErr(err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", kind(st.Mode()))
	}
	if st.Size() > limit {
		return fmt.Errorf("%d bytes, more than the %d natsops reads", st.Size(), limit)
	}
	return nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// checkLimits refuses inventories past the bounds above, naming the list
// and the limit.
func (c *checker) checkLimits() {
	if len(c.inv.Nodes) > MaxNodes {
		c.add("", "node", []string{"node"}, fmt.Sprintf("%d nodes: natsops takes at most %d in one inventory", len(c.inv.Nodes), MaxNodes), "split the fleet into clusters of their own inventories")
	}
	for _, n := range c.inv.Nodes {
		s := n.Server
		for _, l := range []struct {
			key string
			n   int
			max int
		}{
			{"tags", len(n.Tags), MaxListItems},
			{"server.tags", len(s.Tags), MaxListItems},
			{"server.auth.users", len(s.Auth.Users), MaxUsers},
			{"server.websocket.allowed_origins", websocketOrigins(s), MaxListItems},
		} {
			if l.n > l.max {
				c.add(n.Name, l.key, nodeKey(n.Index, l.key), fmt.Sprintf("%d entries: at most %d", l.n, l.max), "shorten the list")
			}
		}
		for j, u := range s.Auth.Users {
			if p := u.Permissions; p != nil {
				for _, sp := range []*SubjectPerm{p.Publish, p.Subscribe} {
					if sp != nil && len(sp.Allow)+len(sp.Deny) > MaxListItems {
						key := fmt.Sprintf("server.auth.users[%d].permissions", j)
						c.add(n.Name, key, nodeKey(n.Index, key), fmt.Sprintf("%d subjects: at most %d per direction", len(sp.Allow)+len(sp.Deny), MaxListItems), "use wildcards (* and >)")
					}
				}
			}
		}
	}
	if len(c.inv.File.Tune.Sysctl) > MaxListItems {
		c.add("", "tune.sysctl", []string{"tune.sysctl"}, fmt.Sprintf("%d sysctls: at most %d", len(c.inv.File.Tune.Sysctl), MaxListItems), "keep the ones the cluster needs")
	}
}

func websocketOrigins(s ServerSpec) int {
	if s.Websocket == nil {
		return 0
	}
	return len(s.Websocket.AllowedOrigins)
}
