package monitor

import "context"

// What joins clusters into a supercluster, as one server sees it:
// /gatewayz (gateway connections to and from the other clusters) and
// /leafz (leaf node connections). Both endpoints exist in 2.9 and 2.15
// with the same shapes for the fields kept here, except that /leafz's
// name and is_spoke appeared in 2.9.15: Debian's 2.9.10 reports neither.

// GatewayzPath is the /gatewayz query: connections only, without the
// per-account interest (accs=true) that grows with the accounts.
const GatewayzPath = "/gatewayz"

// LeafzPath is the /leafz query: connections only, without their
// subscriptions (subs=true).
const LeafzPath = "/leafz"

// Gatewayz is the part of /gatewayz natsops uses.
type Gatewayz struct {
	ServerID string `json:"server_id"`
	// Name is the server's gateway name, which nats-server requires to
	// equal its cluster name; "" when the server has no gateway.
	Name string `json:"name,omitempty"`
	// OutboundGateways are the connections this server dialed, one per
	// remote cluster, by the remote's gateway name.
	OutboundGateways map[string]*RemoteGateway `json:"outbound_gateways"`
	// InboundGateways are the connections other clusters' servers dialed
	// to this one, by the remote's gateway name. Each server of a
	// cluster dials one server of each remote cluster, so a server may
	// have several inbound connections from one remote, or none: only a
	// cluster as a whole has one from every remote server.
	InboundGateways map[string][]*RemoteGateway `json:"inbound_gateways"`
}

// RemoteGateway is one gateway connection.
type RemoteGateway struct {
	Connection *GatewayConn `json:"connection,omitempty"`
}

// GatewayConn is a gateway connection's peer. /gatewayz does not give
// the remote's server_name, only its server ID.
type GatewayConn struct {
	// RemoteID is the remote server's ID (nats-server reports it as the
	// connection's name, in 2.9 as in 2.15).
	RemoteID string `json:"name"`
	IP       string `json:"ip"`
	Port     int    `json:"port"`
}

// Leafz is the part of /leafz natsops uses.
type Leafz struct {
	ServerID string `json:"server_id"`
	NumLeafs int    `json:"leafnodes"`
	// Leafs is null, not [], in 2.9 when there are none.
	Leafs []Leaf `json:"leafs"`
}

// Leaf is one leaf node connection.
type Leaf struct {
	// Account is the account the connection is bound to on this server:
	// on the server that dialed, the local account of its remote; on the
	// server that accepted, the account the leaf's credentials bind it to.
	Account string `json:"account"`
	// Name is the remote server's name ("" before 2.9.15).
	Name string `json:"name,omitempty"`
	IP   string `json:"ip"`
	Port int    `json:"port"`
	// IsSpoke is whether this server is the spoke of the connection: the
	// side that dialed it (unless that side's remote is set hub = true,
	// when the roles swap). nil before 2.9.15, which does not say.
	IsSpoke *bool `json:"is_spoke,omitempty"`
}

// Gatewayz reads GatewayzPath. A server without a gateway answers with
// no name and no connections.
func (c *Client) Gatewayz(ctx context.Context, base string) (*Gatewayz, error) {
	g := &Gatewayz{}
	if err := okOnly(c.get(ctx, base, GatewayzPath, g)); err != nil {
		return nil, err
	}
	return g, nil
}

// Leafz reads LeafzPath. A server without leaf nodes answers with none.
func (c *Client) Leafz(ctx context.Context, base string) (*Leafz, error) {
	l := &Leafz{}
	if err := okOnly(c.get(ctx, base, LeafzPath, l)); err != nil {
		return nil, err
	}
	return l, nil
}
