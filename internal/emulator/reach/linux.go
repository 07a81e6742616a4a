package reach

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// nicName labels the router's VPC-facing interface. GUESS: it is "eth0"
// (newer AMIs call it ens5); a rule or route naming any interface other
// than lo and the VXLAN link is taken to mean this one, since the router
// has no other interface.
const nicName = "eth0"

// String renders a route the way "ip route" prints it.
func (r Route) String() string {
	var b strings.Builder
	if r.Type != "" && r.Type != RouteUnicast {
		b.WriteString(r.Type + " ")
	}
	if r.Dest.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dest.String())
	}
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if r.OnLink {
		b.WriteString(" onlink")
	}
	return b.String()
}

func tableName(t int) string {
	switch t {
	case TableMain:
		return "main"
	case TableLocal:
		return "local"
	case TableDefault:
		return "default"
	}
	return fmt.Sprint(t)
}

// host is the router as a Linux box: the state its user data leaves plus
// what it has without the script, from the VPC: its NIC address, the
// NIC's connected route and the DHCP default route via the VPC router.
type host struct {
	cfg     RouterConfig
	nicNet  netip.Prefix
	nicAddr netip.Addr
	gateway netip.Addr // the VPC router: the subnet's base address + 1 (AWS reserves it)
}

func newHost(cfg RouterConfig, subnet netip.Prefix, addr netip.Addr) host {
	return host{cfg: cfg, nicNet: subnet.Masked(), nicAddr: addr, gateway: subnet.Masked().Addr().Next()}
}

// decision is the outcome of one route lookup.
type decision struct {
	ok    bool
	local bool // delivered to the router itself
	dev   string
	via   netip.Addr
	table int
	route Route
	trace []string // the tables tried, for reasons
	err   string   // when !ok
}

func (d decision) explain() string {
	var parts []string
	parts = append(parts, d.trace...)
	if d.err != "" {
		parts = append(parts, d.err)
	}
	return strings.Join(parts, "; ")
}

// iface maps an interface name from a rule or route to the router's real
// interfaces: lo, the VXLAN link, or the NIC.
func (h host) iface(name string) string {
	if name == "lo" || (name == h.cfg.VXLANDev && name != "") {
		return name
	}
	return nicName
}

// table returns the routes of table t. The main table starts with the
// NIC's connected route and the DHCP default route: they exist before the
// user data runs, so a script route with the same key would have failed
// with "File exists". GUESS: the AMI's DHCP client installs the default
// route with metric 0.
func (h host) table(t int) []Route {
	if t != TableMain {
		return h.cfg.Tables[t]
	}
	own := []Route{
		{Type: RouteUnicast, Dest: h.nicNet, Dev: nicName, Kernel: true},
		{Type: RouteUnicast, Dest: netip.MustParsePrefix("0.0.0.0/0"), Via: h.gateway, Dev: nicName},
	}
	return append(own, h.cfg.Tables[TableMain]...)
}

// onLink reports whether gw is inside a connected prefix of dev.
func (h host) onLink(gw netip.Addr, dev string) bool {
	if dev == nicName {
		return h.nicNet.Contains(gw)
	}
	for _, r := range h.cfg.Tables[TableMain] {
		if r.Kernel && r.Dev == dev && r.Dest.Contains(gw) {
			return true
		}
	}
	return false
}

// nexthop returns the output interface of a unicast route, or why the
// kernel would have refused to install it (gateway not on-link, device
// down: fib_check_nh).
func (h host) nexthop(r Route) (string, string) {
	vx := h.cfg.VXLANDev
	if r.Dev != "" {
		dev := h.iface(r.Dev)
		if dev == "lo" {
			return "", "routes to lo are not modelled"
		}
		if dev == vx && !h.cfg.VXLANUp {
			return "", dev + " is down"
		}
		if r.Via.IsValid() && !r.OnLink && !h.onLink(r.Via, dev) {
			return "", fmt.Sprintf("gateway %s is not on-link for %s", r.Via, dev)
		}
		return dev, ""
	}
	switch {
	case vx != "" && h.onLink(r.Via, vx):
		return vx, ""
	case h.onLink(r.Via, nicName):
		return nicName, ""
	}
	return "", fmt.Sprintf("gateway %s is on no connected network", r.Via)
}

// lookup finds the longest-prefix route for dst in table t (lowest metric,
// then first installed, among equals). Routes the kernel would not have
// installed are skipped and mentioned in the trace.
func (h host) lookup(t int, dst netip.Addr) (Route, string, bool, []string) {
	var (
		best    = -1
		bestDev string
		skipped []string
	)
	routes := h.table(t)
	for i, r := range routes {
		if !r.Dest.Contains(dst) {
			continue
		}
		dev := ""
		if r.Type == RouteUnicast {
			var why string
			if dev, why = h.nexthop(r); why != "" {
				skipped = append(skipped, fmt.Sprintf("table %s: %q not installed (%s)", tableName(t), r, why))
				continue
			}
		}
		b := routes[max(best, 0)]
		if best < 0 || r.Dest.Bits() > b.Dest.Bits() || (r.Dest.Bits() == b.Dest.Bits() && r.Metric < b.Metric) {
			best, bestDev = i, dev
		}
	}
	if best < 0 {
		return Route{}, "", false, skipped
	}
	return routes[best], bestDev, true, skipped
}

// ruleMatches evaluates a policy rule's selector for a packet. Forwarded
// packets are not bound to an output interface, so an oif selector never
// matches them (only locally generated packets have one).
func (h host) ruleMatches(r PolicyRule, iif string, src, dst netip.Addr) bool {
	m := (!r.From.IsValid() || r.From.Contains(src)) &&
		(!r.To.IsValid() || r.To.Contains(dst)) &&
		(r.IIF == "" || h.iface(r.IIF) == iif) &&
		r.OIF == ""
	return m != r.Not
}

// resolve is the kernel's route decision for a packet that arrived on iif:
// policy rules in priority order (the script's plus the default 0 local,
// 32766 main, 32767 default), each looking up its table; a rule whose
// table has no matching route (or a throw route) falls through to the
// next rule (fib_rules_lookup).
func (h host) resolve(iif string, src, dst netip.Addr) decision {
	rules := []PolicyRule{{Priority: 0, Action: "lookup", Table: TableLocal}}
	rules = append(rules, h.cfg.Rules...)
	rules = append(rules,
		PolicyRule{Priority: 32766, Action: "lookup", Table: TableMain},
		PolicyRule{Priority: 32767, Action: "lookup", Table: TableDefault})
	slices.SortStableFunc(rules, func(a, b PolicyRule) int { return a.Priority - b.Priority })

	var d decision
	for _, r := range rules {
		if !h.ruleMatches(r, iif, src, dst) {
			continue
		}
		if r.Action != "lookup" {
			d.err = fmt.Sprintf("rule %d is %s", r.Priority, r.Action)
			return d
		}
		if r.Table == TableLocal {
			if dst == h.nicAddr || (h.cfg.InnerAddr.IsValid() && dst == h.cfg.InnerAddr.Addr()) {
				d.ok, d.local, d.table = true, true, TableLocal
				return d
			}
			continue
		}
		rt, dev, found, skipped := h.lookup(r.Table, dst)
		d.trace = append(d.trace, skipped...)
		if !found {
			d.trace = append(d.trace, fmt.Sprintf("rule %d: table %s has no route for %s", r.Priority, tableName(r.Table), dst))
			continue
		}
		if rt.Type == RouteThrow {
			d.trace = append(d.trace, fmt.Sprintf("rule %d: table %s throws %s", r.Priority, tableName(r.Table), dst))
			continue
		}
		d.table, d.route = r.Table, rt
		if rt.Type != RouteUnicast {
			d.err = fmt.Sprintf("table %s: %q", tableName(r.Table), rt)
			return d
		}
		d.ok, d.dev, d.via = true, dev, rt.Via
		return d
	}
	d.err = fmt.Sprintf("no route for %s", dst)
	return d
}
