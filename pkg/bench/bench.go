// Package bench is natsops's capacity and throughput test of a cluster,
// run from the operator's machine against the inventory's nodes:
//
//   - pubsub: the seed's nats-bench scenario (1 publisher, 1,000
//     subscribers, 10,000 messages of 128 bytes), reporting publish and
//     delivery rates, whether every subscriber got every message, the
//     slow consumers the servers counted and latency percentiles;
//   - connections: idle client connections ramped in steps until a target
//     or the first failure, with the servers' connections and memory per
//     step and the cause it stopped, as the server and the client saw it.
//
// It is a package of its own because it is a client of the cluster, like
// pkg/loadgen, but one that reads the inventory (addresses, users and
// their secrets) and the monitoring endpoint (/varz before and after): it
// sits above pkg/cluster. The decisions (step sizes, the stop cause,
// percentiles, completeness) are pure functions with table tests; the
// network is reached through nats.go, a lean raw-TCP client (lean.go) and
// an injected monitoring reader.
package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// Target is one node benched: where its clients connect and its
// monitoring endpoint.
type Target struct {
	Node       string
	Addr       string // host:port of the client listener
	MonitorURL string
}

// URL is the target's nats:// client URL (no credentials in it).
func (t Target) URL() string { return "nats://" + t.Addr }

// Auth is the user a bench connects as. Password is never printed: Auth
// has no String method that shows it and errors never carry it.
type Auth struct {
	User     string
	Password string
}

// String names the user only.
func (a Auth) String() string {
	if a.User == "" {
		return "no user"
	}
	return "user " + a.User
}

// GoString keeps %#v from showing the password.
func (a Auth) GoString() string { return "bench.Auth{User: " + strconv.Quote(a.User) + "}" }

// Monitor reads a node's /varz (monitor.Client in production).
type Monitor interface {
	Varz(ctx context.Context, base string) (*monitor.Varz, error)
}

// Targets are the selected nodes' client addresses. A node with client
// TLS is refused: the bench's clients do not speak TLS yet.
func Targets(nodes []*cluster.Node) ([]Target, error) {
	var out []Target
	for _, n := range nodes {
		if n.Server.TLS != nil {
			return nil, fmt.Errorf("node %s: its clients need TLS, which natsops bench does not speak yet", n.Name)
		}
		out = append(out, Target{
			Node:       n.Name,
			Addr:       n.ClientAddr(),
			MonitorURL: n.MonitorURL(),
		})
	}
	if len(out) == 0 {
		return nil, errors.New("no node selected")
	}
	return out, nil
}

// ResolveAuth finds user in the inventory (server.auth.user or one of
// server.auth.users) and resolves its password reference (env: or file:,
// as cluster.Secret does). "" means no user: the bench connects without
// credentials (and the server says whether it needs them). Errors name
// the user and the reference, never the value.
func ResolveAuth(inv *cluster.Inventory, user string, env cluster.Env) (Auth, error) {
	if user == "" {
		return Auth{}, nil
	}
	var sec *cluster.Secret
	for _, n := range inv.Nodes {
		a := n.Server.Auth
		if a.User != nil && *a.User == user && a.Password != nil {
			sec = a.Password
		}
		for i := range a.Users {
			if a.Users[i].User == user {
				if a.Users[i].NKey != "" {
					return Auth{}, fmt.Errorf("user %s authenticates with an nkey, which natsops bench does not sign with: bench as a user with a password", user)
				}
				sec = &a.Users[i].Password
			}
		}
		if sec != nil {
			break
		}
	}
	if sec == nil {
		return Auth{}, &LimitError{Msg: fmt.Sprintf("--user %s: the inventory has no such user (server.auth.user or server.auth.users)", user)}
	}
	if sec.Kind() == cluster.SecretLiteral && cluster.IsBcrypt(string(*sec)) {
		return Auth{}, fmt.Errorf("user %s: the inventory holds only a bcrypt hash of its password, which natsops cannot log in with: reference the password with env:NAME or file:PATH", user)
	}
	pw, err := sec.Resolve(inv.Dir, env)
	if err != nil {
		return Auth{}, fmt.Errorf("user %s: %v", user, err)
	}
	return Auth{User: user, Password: pw}, nil
}

// AuthError is the server refusing the bench's credentials.
type AuthError struct {
	Auth Auth
	Node string
	Msg  string // the server's -ERR text (it never echoes a password)
}

func (e *AuthError) Error() string {
	if e.Auth.User == "" {
		return fmt.Sprintf("node %s refused a connection without a user (%s): give --user NAME, a user of the inventory", e.Node, e.Msg)
	}
	return fmt.Sprintf("node %s refused %s (%s): check its password reference in the inventory", e.Node, e.Auth, e.Msg)
}
