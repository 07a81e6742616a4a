// Package routerconfig renders and parses the user data of a gatestream router:
// the EC2 instance that is a SORACOM Gate peer and forwards the fleet's traffic
// into the VPG's device subnet over VXLAN.
//
// The script is the only record of how the router's Linux is configured that
// the operator can observe from the AWS API (DescribeInstanceAttribute
// userData), so Parse reads it back into the same Config that Render wrote:
// the reachability check compares that Config with the VPG's Gate settings
// instead of logging into the router.
package routerconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

const (
	// Device is the VXLAN interface. Fixed so that the routing and NAT lines can
	// be matched without following interface names through the script.
	Device = "vxlan0"
	// Table is the policy routing table for forwarded traffic. Forwarded packets
	// must not use the main table: its default route points at the VPC router,
	// and the device subnet and LANs are reached only through vxlan0.
	Table = 100
	// Port is the VXLAN UDP port SORACOM Gate uses (IANA's). Linux's default
	// without dstport is the pre-standard 8472, so the script always names it.
	Port = 4789

	ownerPrefix = "# gatestream router for "
	ownerSuffix = " (managed by gatestream; do not edit)"
	nftTable    = "gatestream"
	nftChain    = "postrouting"
	// zeroMAC as the fdb key makes the kernel send broadcast and unknown-unicast
	// frames (ARP for the VPG's inner address included) to every listed remote.
	zeroMAC = "00:00:00:00:00:00"
)

// Config is what the router script sets up.
type Config struct {
	// Owner is the namespace/name of the environment, written in a comment so a
	// person looking at the instance knows who rewrites it.
	Owner string
	// VXLANID is the VXLAN network identifier; it must equal the VPG's gateVxlanId.
	VXLANID int
	// Remotes are the outer (underlay) addresses of the VPG's own Gate peers.
	Remotes []netip.Addr
	// Inner is the router's address in the device subnet, with the device
	// subnet's prefix length (so the VPG's inner address is on-link on vxlan0).
	Inner netip.Prefix
	// VPCCIDR is routed via SubnetGateway in table 100, so replies to the
	// fleet leave through the VPC router and not back into the tunnel.
	VPCCIDR netip.Prefix
	// SubnetGateway is the VPC router of the router's subnet (see SubnetGateway).
	SubnetGateway netip.Addr
	// VPGInner is the inner address of the VPG's own Gate peer: table 100's
	// default route, which carries the device subnet and every LAN CIDR.
	VPGInner netip.Addr
	// Masquerade rewrites the source of traffic leaving vxlan0 to Inner, so
	// devices answer the router without any Junction configuration.
	Masquerade bool

	// IPForward and HasPolicyRule are observations made by Parse; Render always
	// writes both (a router without them forwards nothing), so they are true
	// for any script Render produced. HasPolicyRule is true when the script has
	// both an "ip rule … lookup 100" line and table 100's default route into vxlan0.
	IPForward     bool
	HasPolicyRule bool
}

// SubnetGateway is the address AWS gives the VPC router in a subnet: the
// subnet's base address plus one. Table 100 needs it because forwarded traffic
// bypasses the main table, where the DHCP-provided default route lives.
func SubnetGateway(subnet netip.Prefix) netip.Addr {
	return subnet.Masked().Addr().Next()
}

// Render writes the router's user data. Remotes are sorted and deduplicated:
// the order is then stable (the Hash does not change when the VPG lists its
// peers in another order), and a repeated "bridge fdb append" would fail with
// EEXIST and stop the script under set -e.
func Render(c Config) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line("#!/bin/sh")
	line("%s%s%s", ownerPrefix, sanitizeOwner(c.Owner), ownerSuffix)
	line("set -eu")
	line("sysctl -w net.ipv4.ip_forward=1")
	line("ip link add %s type vxlan id %d dstport %d", Device, c.VXLANID, Port)
	for _, r := range sortedRemotes(c.Remotes) {
		line("bridge fdb append %s dev %s dst %s", zeroMAC, Device, r)
	}
	line("ip addr add %s dev %s", c.Inner, Device)
	line("ip link set %s up", Device)
	line("ip rule add not iif lo lookup %d priority %d", Table, Table)
	line("ip route add %s via %s table %d", c.VPCCIDR, c.SubnetGateway, Table)
	line("ip route add default via %s dev %s table %d", c.VPGInner, Device, Table)
	if c.Masquerade {
		line("nft add table ip %s", nftTable)
		line("nft add chain ip %s %s '{ type nat hook postrouting priority 100 ; }'", nftTable, nftChain)
		line("nft add rule ip %s %s oifname \"%s\" masquerade", nftTable, nftChain, Device)
	}
	return b.String()
}

// Hash is a short, stable digest of the rendered script, for an instance tag:
// comparing tags tells whether a managed router runs the wanted script
// without fetching and decoding its user data.
func Hash(c Config) string {
	sum := sha256.Sum256([]byte(Render(c)))
	return hex.EncodeToString(sum[:8])
}

// sanitizeOwner keeps the owner comment on one line: a newline in it would
// turn the rest of the owner into a shell command run as root.
func sanitizeOwner(owner string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '_'
		}
		return r
	}, owner)
}

func sortedRemotes(in []netip.Addr) []netip.Addr {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

// ErrNoRouterConfig is wrapped by Parse's error when the script creates no
// vxlan0 (a cloud-config document, another tool's script, empty user data):
// the tunnel device is what makes a script a router script. A caller checking
// a router someone else runs can then say "not observable" instead of "broken";
// for a router gatestream launched it is broken all the same.
var ErrNoRouterConfig = errors.New("no router configuration lines")

// LineError is a line Parse recognised as part of the router grammar but
// could not read; it names the line so the person fixing it can find it.
type LineError struct {
	Line int    // 1-based
	Text string // the line as written
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %d %q: %v", e.Line, e.Text, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Parse reads a router script back into a Config. Blank lines, comments and
// the order of lines do not matter. A line that is not part of the grammar is
// returned in unrecognised as "line N: text" (the router may carry extra
// commands a person added; they are reported, not rejected). A line that is
// part of the grammar but malformed or contradicting an earlier one is an
// error naming the line, because the router would not be configured as the
// rest of the script says.
//
// Besides Render's own lines Parse accepts: "ip address", "bridge fdb add",
// "ip route replace", "0.0.0.0/0" for default, "table" for "lookup" in the
// rule, forwarding through /proc or sysctl without -w, and masquerading with
// "iptables -t nat -A|-I POSTROUTING -o vxlan0 -j MASQUERADE".
func Parse(script string) (Config, []string, error) {
	p := parser{}
	for i, raw := range strings.Split(script, "\n") {
		text := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if text == "" {
			continue
		}
		if strings.HasPrefix(text, "#") {
			// The owner lives in a comment; every other comment is ignored.
			if owner, ok := strings.CutPrefix(text, ownerPrefix); ok {
				if owner, ok := strings.CutSuffix(owner, ownerSuffix); ok {
					p.c.Owner = owner
				}
			}
			continue
		}
		words, err := split(text)
		if err != nil {
			return Config{}, nil, &LineError{Line: i + 1, Text: text, Err: err}
		}
		known, err := p.line(words)
		if err != nil {
			return Config{}, nil, &LineError{Line: i + 1, Text: text, Err: err}
		}
		if !known {
			p.unknown = append(p.unknown, fmt.Sprintf("line %d: %s", i+1, text))
		}
	}
	if !p.haveVXLAN {
		return Config{}, p.unknown, fmt.Errorf("routerconfig: no %q line: %w", "ip link add "+Device, ErrNoRouterConfig)
	}
	c := p.c
	c.HasPolicyRule = p.rule && p.defaultRoute
	if len(c.Remotes) > 0 {
		c.Remotes = sortedRemotes(c.Remotes)
	}
	return c, p.unknown, nil
}

type parser struct {
	c                   Config
	unknown             []string
	rule, defaultRoute  bool
	haveVXLAN, haveAddr bool
	haveVPCRoute        bool
}

// line interprets one command. It returns false for a command outside the
// grammar, and an error for a command of the grammar it cannot accept.
func (p *parser) line(w []string) (bool, error) {
	switch {
	case match(w, "set"), match(w, "ip", "link", "set", Device, "up"),
		match(w, "nft", "add", "table", "ip", nftTable),
		match(w, "nft", "add", "chain", "ip", nftTable, nftChain):
		// Part of the grammar, but nothing in Config records them.
		return true, nil
	case match(w, "sysctl"):
		return p.sysctl(w[1:])
	case match(w, "echo") && len(w) == 4 && w[2] == ">" && w[3] == "/proc/sys/net/ipv4/ip_forward":
		p.c.IPForward = w[1] == "1"
		return true, nil
	case match(w, "ip", "link", "add", Device):
		return true, p.vxlan(w[4:])
	case match(w, "bridge", "fdb", "append"), match(w, "bridge", "fdb", "add"):
		return p.fdb(w[3:])
	case match(w, "ip", "addr", "add"), match(w, "ip", "address", "add"):
		return p.addr(w[3:])
	case match(w, "ip", "rule", "add"):
		return p.ipRule(w[3:])
	case match(w, "ip", "route", "add"), match(w, "ip", "route", "replace"):
		return p.route(w[3:])
	case match(w, "nft", "add", "rule", "ip", nftTable, nftChain):
		rest := w[6:]
		if len(rest) == 3 && rest[0] == "oifname" && rest[1] == Device && rest[2] == "masquerade" {
			p.c.Masquerade = true
			return true, nil
		}
		return false, nil
	case match(w, "iptables", "-t", "nat"):
		if len(w) == 9 && (w[3] == "-A" || w[3] == "-I") && w[4] == "POSTROUTING" &&
			w[5] == "-o" && w[6] == Device && w[7] == "-j" && w[8] == "MASQUERADE" {
			p.c.Masquerade = true
			return true, nil
		}
		return false, nil
	}
	return false, nil
}

func (p *parser) sysctl(args []string) (bool, error) {
	if len(args) > 0 && args[0] == "-w" {
		args = args[1:]
	}
	if len(args) != 1 {
		return false, nil
	}
	v, ok := strings.CutPrefix(args[0], "net.ipv4.ip_forward=")
	if !ok {
		// Other sysctls (rp_filter, say) do not decide whether the router forwards.
		return false, nil
	}
	p.c.IPForward = v == "1"
	return true, nil
}

// vxlan reads "type vxlan id N dstport 4789" after "ip link add vxlan0".
func (p *parser) vxlan(args []string) error {
	if len(args) < 2 || args[0] != "type" || args[1] != "vxlan" {
		return fmt.Errorf("%s must be of type vxlan", Device)
	}
	id, port := -1, 0
	opts, err := pairs(args[2:], "id", "dstport", "remote", "dev", "local", "ttl")
	if err != nil {
		return err
	}
	if v, ok := opts["remote"]; ok {
		// A single-remote tunnel, as people write it by hand for an existing router.
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return fmt.Errorf("remote %q is not an IPv4 address", v)
		}
		p.c.Remotes = append(p.c.Remotes, a)
	}
	if v, ok := opts["id"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<24-1 {
			return fmt.Errorf("VXLAN id %q is not a number in 0..16777215", v)
		}
		id = n
	}
	if v, ok := opts["dstport"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("dstport %q is not a number", v)
		}
		port = n
	}
	if id < 0 {
		return errors.New("no VXLAN id")
	}
	if port != Port {
		return fmt.Errorf("dstport must be %d (SORACOM Gate's VXLAN port); without it Linux uses 8472", Port)
	}
	if p.haveVXLAN && p.c.VXLANID != id {
		return fmt.Errorf("%s is created again with id %d (first %d)", Device, id, p.c.VXLANID)
	}
	p.haveVXLAN, p.c.VXLANID = true, id
	return nil
}

// fdb reads "00:00:00:00:00:00 dev vxlan0 dst A".
func (p *parser) fdb(args []string) (bool, error) {
	if len(args) == 0 || args[0] != zeroMAC {
		// An entry for a specific MAC is not how this grammar reaches the VPG.
		return false, nil
	}
	opts, err := pairs(args[1:], "dev", "dst")
	if err != nil {
		return true, err
	}
	if opts["dev"] != Device {
		return false, nil
	}
	a, err := netip.ParseAddr(opts["dst"])
	if err != nil || !a.Is4() {
		return true, fmt.Errorf("remote %q is not an IPv4 address", opts["dst"])
	}
	p.c.Remotes = append(p.c.Remotes, a)
	return true, nil
}

// addr reads "P dev vxlan0"; addresses on other devices are not ours.
func (p *parser) addr(args []string) (bool, error) {
	if len(args) != 3 || args[1] != "dev" || args[2] != Device {
		return false, nil
	}
	pfx, err := netip.ParsePrefix(args[0])
	if err != nil || !pfx.Addr().Is4() {
		return true, fmt.Errorf("inner address %q is not an IPv4 address/length", args[0])
	}
	if p.haveAddr && p.c.Inner != pfx {
		return true, fmt.Errorf("a second inner address %s (first %s)", pfx, p.c.Inner)
	}
	p.haveAddr, p.c.Inner = true, pfx
	return true, nil
}

// ipRule accepts any selector that looks up table 100: the selector decides
// which traffic is forwarded into the tunnel, and "not iif lo" (everything not
// sent by the router itself) is just the one Render uses.
func (p *parser) ipRule(args []string) (bool, error) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "lookup" || args[i] == "table" {
			if args[i+1] != strconv.Itoa(Table) {
				return false, nil
			}
			p.rule = true
			return true, nil
		}
	}
	return false, nil
}

// route reads "DEST via GW [dev D] table 100". Routes in other tables are not
// this grammar's (the main table is managed by the instance's DHCP client).
func (p *parser) route(args []string) (bool, error) {
	if len(args) == 0 {
		return false, nil
	}
	opts, err := pairs(args[1:], "via", "dev", "table", "metric", "proto", "src")
	if err != nil {
		return false, nil
	}
	if opts["table"] != strconv.Itoa(Table) {
		return false, nil
	}
	via, err := netip.ParseAddr(opts["via"])
	if err != nil || !via.Is4() {
		return true, fmt.Errorf("gateway %q is not an IPv4 address", opts["via"])
	}
	if args[0] == "default" || args[0] == "0.0.0.0/0" {
		if opts["dev"] != Device {
			// A default elsewhere does not carry the device subnet into the tunnel.
			return false, nil
		}
		if p.defaultRoute && p.c.VPGInner != via {
			return true, fmt.Errorf("a second default route via %s (first via %s)", via, p.c.VPGInner)
		}
		p.defaultRoute, p.c.VPGInner = true, via
		return true, nil
	}
	dst, err := netip.ParsePrefix(args[0])
	if err != nil || !dst.Addr().Is4() {
		return true, fmt.Errorf("destination %q is not an IPv4 CIDR", args[0])
	}
	if opts["dev"] == Device {
		// A specific route into the tunnel is not part of the grammar: the
		// default route already carries the device subnet and the LANs.
		return false, nil
	}
	if p.haveVPCRoute && (p.c.VPCCIDR != dst || p.c.SubnetGateway != via) {
		return true, fmt.Errorf("a second VPC route %s via %s (first %s via %s)", dst, via, p.c.VPCCIDR, p.c.SubnetGateway)
	}
	p.haveVPCRoute, p.c.VPCCIDR, p.c.SubnetGateway = true, dst, via
	return true, nil
}

// pairs reads "key value" pairs, allowing only the given keys: an unknown key
// might change what the command does, so the line is not trusted.
func pairs(args []string, keys ...string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		if !slices.Contains(keys, args[i]) {
			return nil, fmt.Errorf("unsupported option %q", args[i])
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("option %q has no value", args[i])
		}
		out[args[i]] = args[i+1]
	}
	return out, nil
}

func match(words []string, prefix ...string) bool {
	return len(words) >= len(prefix) && slices.Equal(words[:len(prefix)], prefix)
}

// split cuts a shell line into words the way sh would for this grammar:
// whitespace separates words, single and double quotes group (no escapes or
// expansions: none of the grammar's lines use them), and an unquoted # starts
// a comment.
func split(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case unicode.IsSpace(r):
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case r == '#' && !in:
			return words, nil
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
