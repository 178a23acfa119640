package cluster

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

// hostRE is a DNS name or an ~/.ssh/config alias: letters, digits, '.',
// '-' and '_', not starting with '-' (ssh would read an option) or '.'.
var hostRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$`)

// ValidHost reports a host or route_host the inventory accepts: an IP
// literal, a DNS name or an ~/.ssh/config alias.
func ValidHost(h string) bool { return validHost(h) }

// validHost reports a host natsops can dial and write into a route URL:
// an IP literal or a name by hostRE.
func validHost(h string) bool {
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
		return true
	}
	return hostRE.MatchString(h)
}

// checkHosts refuses a host or route_host that is not a name or an IP
// address (a space, a newline, a leading '-'), on the node that sets it.
func (c *checker) checkHosts() {
	for i, n := range c.inv.Nodes {
		if n.Host != "" && !validHost(n.Host) {
			c.add(n.Name, "host", []string{fmt.Sprintf("node[%d].host", i)}, fmt.Sprintf("host %q is not a host name or an IP address", n.Host), "use a DNS name, an ~/.ssh/config alias or an IP address (letters, digits, '.', '-', '_')")
		}
		if n.RouteHost != n.Host && !validHost(n.RouteHost) {
			c.add(n.Name, "route_host", []string{fmt.Sprintf("node[%d].route_host", i)}, fmt.Sprintf("route_host %q is not a host name or an IP address (its peers' route URLs are made of it)", n.RouteHost), "use the DNS name or IP address the other nodes reach this one at")
		}
	}
}
