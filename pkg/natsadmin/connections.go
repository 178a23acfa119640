package natsadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// The subjects of the client connection requests (nats-server
// server/events.go: serverPingReqSubj "$SYS.REQ.SERVER.PING.%s" with
// "CONNZ", serverDirectReqSubj "$SYS.REQ.SERVER.%s.%s", clientKickReqSubj
// "$SYS.REQ.SERVER.%s.KICK"; v2.10.0+), as natscli's `nats server cluster
// balance` sends them (jsm.go connbalancer).
const (
	SubjectPingConnz = "$SYS.REQ.SERVER.PING.CONNZ"
	subjectConnz     = "$SYS.REQ.SERVER.%s.CONNZ"
	subjectKick      = "$SYS.REQ.SERVER.%s.KICK"
)

// SystemAccount is the account nats-server names the system account when
// the configuration does not name another (natsops renders it so).
const SystemAccount = "$SYS"

// connzPage is how many connections one CONNZ reply lists: nats-server's
// default page (DefaultConnListSize); a larger page of a busy server
// could exceed max_payload.
const connzPage = 1024

// Conn is one client connection as a server's CONNZ lists it.
type Conn struct {
	CID     uint64 `json:"cid"`
	Kind    string `json:"kind,omitempty"`
	Type    string `json:"type,omitempty"`
	IP      string `json:"ip,omitempty"`
	Port    int    `json:"port,omitempty"`
	Name    string `json:"name,omitempty"`
	Account string `json:"account,omitempty"`
	User    string `json:"authorized_user,omitempty"`
}

// ServerConns is one server's client connections: every open one, all
// pages read.
type ServerConns struct {
	ID      string
	Name    string
	Cluster string
	// Version is the nats-server version the server reports.
	Version string
	Conns   []Conn
}

// connzReply is a CONNZ reply (server.ServerAPIResponse around
// server.Connz), decoded tolerantly.
type connzReply struct {
	Server struct {
		Name    string `json:"name"`
		ID      string `json:"id"`
		Cluster string `json:"cluster"`
		Version string `json:"ver"`
	} `json:"server"`
	Data *struct {
		Total  int    `json:"total"`
		Offset int    `json:"offset"`
		Limit  int    `json:"limit"`
		Conns  []Conn `json:"connections"`
	} `json:"data"`
	Error *APIError `json:"error"`
}

type connzRequest struct {
	Auth    bool   `json:"auth"`
	Offset  int    `json:"offset"`
	Limit   int    `json:"limit"`
	Cluster string `json:"cluster,omitempty"`
	Exact   bool   `json:"exact_match,omitempty"`
}

// Connections asks every server of cluster (all servers the connection
// reaches when cluster is "") for its open client connections
// ($SYS.REQ.SERVER.PING.CONNZ, then each server's further pages). It
// returns once expect servers answered, or wait after the last answer
// (bounded by ctx), sorted by server name; a server that did not answer
// is absent (the caller names it).
func Connections(ctx context.Context, nc *nats.Conn, cluster string, expect int, wait time.Duration) ([]ServerConns, error) {
	req := connzRequest{Auth: true, Limit: connzPage, Cluster: cluster, Exact: cluster != ""}
	replies, err := gather(ctx, nc, SubjectPingConnz, req, expect, wait)
	if err != nil {
		return nil, err
	}
	var out []ServerConns
	for _, data := range replies {
		var r connzReply
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w: %.200q", SubjectPingConnz, err, data)
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s: %w", SubjectPingConnz, r.Server.Name, r.Error)
		}
		if r.Data == nil {
			return nil, fmt.Errorf("%s: %s answered no connections: %.200q", SubjectPingConnz, r.Server.Name, data)
		}
		sc := ServerConns{ID: r.Server.ID, Name: r.Server.Name, Cluster: r.Server.Cluster, Version: r.Server.Version, Conns: r.Data.Conns}
		for off := len(r.Data.Conns); off < r.Data.Total; {
			var page connzReply
			err := Request(ctx, nc, fmt.Sprintf(subjectConnz, sc.ID), connzRequest{Auth: true, Offset: off, Limit: connzPage}, &page)
			if err != nil {
				return nil, fmt.Errorf("%s: the connections from %d: %w", sc.Name, off, err)
			}
			if page.Data == nil || len(page.Data.Conns) == 0 {
				break // connections closed since the first page
			}
			sc.Conns = append(sc.Conns, page.Data.Conns...)
			off += len(page.Data.Conns)
		}
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Kick closes client connection cid on server serverID
// ($SYS.REQ.SERVER.<id>.KICK): the client reconnects to another server
// of its list. A connection already gone is an error naming it.
func Kick(ctx context.Context, nc *nats.Conn, serverID string, cid uint64) error {
	err := Request(ctx, nc, fmt.Sprintf(subjectKick, serverID), struct {
		CID uint64 `json:"cid"`
	}{cid}, nil)
	if err != nil {
		return fmt.Errorf("close client %d on %s: %w", cid, serverID, err)
	}
	return nil
}

// gather publishes req on subject and collects the replies: until expect
// arrived (expect > 0), or wait passed since the last one (or since the
// request, when none came), or ctx ends.
func gather(ctx context.Context, nc *nats.Conn, subject string, req any, expect int, wait time.Duration) ([][]byte, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	inbox := nc.NewRespInbox()
	var (
		mu      sync.Mutex
		replies [][]byte
	)
	got := make(chan struct{}, 1)
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			return
		}
		mu.Lock()
		replies = append(replies, m.Data)
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, data); err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", subject, ctx.Err())
		case <-timer.C:
			mu.Lock()
			defer mu.Unlock()
			if len(replies) == 0 {
				return nil, fmt.Errorf("no server answered %s within %s", subject, wait)
			}
			return replies, nil
		case <-got:
			mu.Lock()
			n := len(replies)
			mu.Unlock()
			if expect > 0 && n >= expect {
				mu.Lock()
				defer mu.Unlock()
				return replies, nil
			}
			timer.Reset(wait)
		}
	}
}

// Conns is one cluster's client connections through an open system user
// connection: what rebalance asks (it implements rebalance.Admin).
type Conns struct {
	NC *nats.Conn
	// Cluster filters the servers by cluster name ("" all).
	Cluster string
	// Expect is how many servers answer (the cluster's nodes); Wait how
	// long after the last answer a missing one is waited for.
	Expect int
	Wait   time.Duration
}

// Connections lists every server's client connections.
func (c *Conns) Connections(ctx context.Context) ([]ServerConns, error) {
	return Connections(ctx, c.NC, c.Cluster, c.Expect, c.Wait)
}

// Kick closes connection cid on server serverID.
func (c *Conns) Kick(ctx context.Context, serverID string, cid uint64) error {
	return Kick(ctx, c.NC, serverID, cid)
}

// Self is this connection: the server it is on and its client id there.
func (c *Conns) Self() (string, uint64) {
	cid, _ := c.NC.GetClientID()
	return c.NC.ConnectedServerId(), cid
}
