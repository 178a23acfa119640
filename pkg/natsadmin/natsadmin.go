// Package natsadmin speaks to a cluster as its inventory's system account
// user: the requests natscli's `nats server` commands send
// ($JS.API.SERVER.*, $JS.API.META.*, $SYS.REQ.SERVER.*). It holds no
// decisions; the commands and the rollout engine decide what to ask.
package natsadmin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsops/natsops/pkg/cluster"
)

// ErrNoSystemUser is returned by New for an inventory that names no system
// account user.
var ErrNoSystemUser = errors.New("the inventory names no system account user: set server.auth.system_user and server.auth.system_password")

// Client is the system account user of one cluster: the client URLs of its
// nodes and the credentials. It holds no connection; Connect opens one.
type Client struct {
	URLs           []string
	User, Password string
}

// New is the system account client of nodes (one cluster's): the user
// server.auth.system_user names, or, for an inventory that declares its
// system account in [accounts] (server.auth.system_account naming an
// account with users, as `natsops demo` and the supercluster example do),
// that account's first user with a password. ErrNoSystemUser when it
// names neither; the error resolving a password names the inventory key,
// never the secret.
func New(inv *cluster.Inventory, nodes []*cluster.Node, env cluster.Env) (*Client, error) {
	if inv == nil || len(nodes) == 0 {
		return nil, errors.New("no nodes to connect to")
	}
	a := nodes[0].Server.Auth
	var c *Client
	switch {
	case !Declared(inv, nodes):
	case a.SystemUser != nil && a.SystemPassword != nil:
		pw, err := a.SystemPassword.Resolve(inv.Dir, env)
		if err != nil {
			return nil, fmt.Errorf("server.auth.system_password: %w", err)
		}
		c = &Client{User: *a.SystemUser, Password: pw}
	case a.SystemAccount != nil:
		for i, u := range inv.File.Accounts[*a.SystemAccount].Users {
			if u.User == "" || u.Password == "" {
				continue
			}
			pw, err := u.Password.Resolve(inv.Dir, env)
			if err != nil {
				return nil, fmt.Errorf("accounts.%s.users[%d].password: %w", *a.SystemAccount, i, err)
			}
			c = &Client{User: u.User, Password: pw}
			break
		}
	}
	if c == nil {
		return nil, ErrNoSystemUser
	}
	for _, n := range nodes {
		u := url.URL{Scheme: "nats", Host: net.JoinHostPort(n.RouteHost, strconv.Itoa(*n.Server.Port))}
		if n.Server.TLS != nil {
			u.Scheme = "tls"
		}
		c.URLs = append(c.URLs, u.String())
	}
	return c, nil
}

// Declared says whether the inventory names a system account user for
// nodes, as New reads it (without resolving its password).
func Declared(inv *cluster.Inventory, nodes []*cluster.Node) bool {
	if inv == nil || len(nodes) == 0 {
		return false
	}
	a := nodes[0].Server.Auth
	if a.SystemUser != nil && a.SystemPassword != nil {
		return true
	}
	if a.SystemAccount == nil {
		return false
	}
	for _, u := range inv.File.Accounts[*a.SystemAccount].Users {
		if u.User != "" && u.Password != "" {
			return true
		}
	}
	return false
}

// Connect opens a connection as the system user, named name (it shows in
// the servers' /connz). It reconnects to another node while the one it is
// on restarts.
func (c *Client) Connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect(strings.Join(c.URLs, ","), nats.UserInfo(c.User, c.Password), nats.Name(name), nats.Timeout(5*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster as the system user %q: %w", c.User, err)
	}
	return nc, nil
}

// APIError is the error a JetStream API reply carries.
type APIError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%s (%d)", e.Description, e.ErrCode) }

// Request sends req (marshalled to JSON, or none when nil) on subject and
// decodes the reply into resp. A reply with an "error" member is returned
// as *APIError; no responders as an error naming the subject.
func Request(ctx context.Context, nc *nats.Conn, subject string, req, resp any) error {
	var data []byte
	if req != nil {
		var err error
		if data, err = json.Marshal(req); err != nil {
			return err
		}
	}
	msg, err := nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("no server answers %s: %w", subject, err)
		}
		return fmt.Errorf("%s: %w", subject, err)
	}
	var e struct {
		Error *APIError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &e); err != nil {
		return fmt.Errorf("%s: %w: %q", subject, err, msg.Data)
	}
	if e.Error != nil {
		return e.Error
	}
	if resp != nil {
		if err := json.Unmarshal(msg.Data, resp); err != nil {
			return fmt.Errorf("%s: %w: %q", subject, err, msg.Data)
		}
	}
	return nil
}
