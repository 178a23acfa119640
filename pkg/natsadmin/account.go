package natsadmin

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/natsops/natsops/pkg/cluster"
)

// NewAny is New, or, for an inventory whose system account is one of its
// [accounts] (server.auth.system_account, as the demo's SYS) rather than
// a system_user, that account's first password user. ErrNoSystemUser
// when it names neither.
func NewAny(inv *cluster.Inventory, nodes []*cluster.Node, env cluster.Env) (*Client, error) {
	c, err := New(inv, nodes, env)
	if !errors.Is(err, ErrNoSystemUser) {
		return c, err
	}
	a := nodes[0].Server.Auth
	if a.SystemAccount == nil || inv.File.Accounts == nil {
		return nil, ErrNoSystemUser
	}
	acc, ok := inv.File.Accounts[*a.SystemAccount]
	if !ok {
		return nil, ErrNoSystemUser
	}
	for i, u := range acc.Users {
		if u.User == "" || u.Password == "" {
			continue
		}
		pw, err := u.Password.Resolve(inv.Dir, env)
		if err != nil {
			return nil, fmt.Errorf("accounts.%s.users[%d].password: %w", *a.SystemAccount, i, err)
		}
		c := &Client{User: u.User, Password: pw}
		for _, n := range nodes {
			u := url.URL{Scheme: "nats", Host: net.JoinHostPort(n.RouteHost, strconv.Itoa(*n.Server.Port))}
			if n.Server.TLS != nil {
				u.Scheme = "tls"
			}
			c.URLs = append(c.URLs, u.String())
		}
		return c, nil
	}
	return nil, ErrNoSystemUser
}
