package natsadmin

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/natsops/natsops/pkg/cluster"
)

// NewFromAccounts is the system account client of an inventory that
// declares its system account in [accounts] (server.auth.system_account
// naming an account with users, as `natsops demo` and the supercluster
// example do) rather than with server.auth.system_user: the account's
// first user with a password. ErrNoSystemUser when there is none.
func NewFromAccounts(inv *cluster.Inventory, nodes []*cluster.Node, env cluster.Env) (*Client, error) {
	if inv == nil || len(nodes) == 0 {
		return nil, errors.New("no nodes to connect to")
	}
	a := nodes[0].Server.Auth
	if a.SystemAccount == nil {
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
			h := url.URL{Scheme: "nats", Host: net.JoinHostPort(n.RouteHost, strconv.Itoa(*n.Server.Port))}
			if n.Server.TLS != nil {
				h.Scheme = "tls"
			}
			c.URLs = append(c.URLs, h.String())
		}
		return c, nil
	}
	return nil, ErrNoSystemUser
}
