package reach

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Linux routing table numbers (include/uapi/linux/rtnetlink.h).
const (
	TableDefault = 253
	TableMain    = 254
	TableLocal   = 255
)

// Route types (ip-route(8)).
const (
	RouteUnicast     = "unicast"
	RouteTypeBlack   = "blackhole"
	RouteUnreachable = "unreachable"
	RouteProhibit    = "prohibit"
	RouteThrow       = "throw"
)

// linuxVXLANDefaultPort is the UDP port the Linux kernel uses for a VXLAN
// link created without "dstport" (or with "dstport 0"): the pre-IANA 8472,
// not 4789. iproute2 warns about exactly this ("destination port not
// specified ... Will use Linux kernel default (non-standard value)").
const linuxVXLANDefaultPort = 8472

// ErrNoUserData is returned by ParseUserData for an empty script.
var ErrNoUserData = errors.New("empty user data")

// RouterConfig is the router's Linux networking state after its user data
// ran, as far as it matters for forwarding into the Gate tunnel.
type RouterConfig struct {
	// Shebang is the interpreter line without "#!" ("" when the script has
	// none: cloud-init then does not run it as a script at all).
	Shebang string
	// IPForward is the final value of net.ipv4.ip_forward.
	IPForward bool
	// VXLANDev is the name of the VXLAN link ("vxlan0"); "" when the
	// script creates none. Only the first VXLAN link is modelled.
	VXLANDev string
	// VXLANID is its VNI (0 when there is no VXLAN link).
	VXLANID int
	// VXLANPort is its UDP destination port (the kernel default 8472 when
	// the script does not set dstport).
	VXLANPort int
	// VXLANUp is whether the script brings the link up.
	VXLANUp bool
	// Remotes are the flood (all-zero MAC) fdb destinations of the link,
	// in script order, without duplicates ("remote X" on the link first).
	Remotes []netip.Addr
	// InnerAddr is the first address on the VXLAN link (A/P, not masked).
	InnerAddr netip.Prefix
	// Rules are the policy rules the script adds, in priority order; the
	// kernel's default rules (0 local, 32766 main, 32767 default) are not
	// listed.
	Rules []PolicyRule
	// Tables are the routes per table the script creates, plus the
	// connected route of each address on the VXLAN link (main table), as
	// the kernel adds it. Routes the instance gets from DHCP are not here:
	// the script does not create them.
	Tables map[int][]Route
	// Masquerade is whether traffic leaving the VXLAN link (vxlan0 when the
	// script has no VXLAN link) is masqueraded by nft or iptables.
	Masquerade bool
	// Unknown are the commands the parser does not model, in script order
	// ("set -eu" and comments excluded).
	Unknown []string
}

// PolicyRule is one "ip rule". A zero From or To matches everything.
type PolicyRule struct {
	Priority int
	Not      bool
	From, To netip.Prefix
	IIF, OIF string
	// Action is "lookup" (use Table) or a terminal type: "blackhole",
	// "unreachable", "prohibit".
	Action string
	Table  int
}

// Route is one route of a Linux routing table.
type Route struct {
	Type   string // RouteUnicast, RouteTypeBlack, RouteUnreachable, RouteProhibit, RouteThrow
	Dest   netip.Prefix
	Via    netip.Addr // zero: no gateway
	Dev    string     // "": chosen from Via
	Metric int
	OnLink bool
	Kernel bool // the connected route of an interface address
}

// lineText is a command's text and position (seq orders commands that
// share a line).
type lineText struct {
	line, seq int
	text      string
}

type addrEntry struct {
	prefix        netip.Prefix
	noPrefixRoute bool
	lineText
}

type fdbEntry struct {
	dst netip.Addr
	lineText
}

type natRule struct {
	family, table, chain string // nft; empty for iptables
	oif                  string // "" matches every interface
	iptables             bool
}

type parser struct {
	cfg       RouterConfig
	unknown   []lineText
	linkUp    map[string]bool
	upLines   map[string][]lineText
	addrs     map[string][]addrEntry
	fdb       map[string][]fdbEntry
	linkRmt   netip.Addr
	nftTables map[string]bool // "family table"
	nftNAT    map[string]bool // "family table chain" -> nat/postrouting base chain
	nat       []natRule
	stop      bool
}

// ParseUserData reads a router's EC2 user data (the shell script the
// operator renders, or a hand-edited one) and returns the networking state
// it leaves behind. It understands: sysctl (and echo > /proc/sys/…) for
// ip_forward, ip link add … type vxlan, ip link set … up, ip addr add,
// bridge fdb append, ip rule add, ip route add/replace/append, and the nft
// or iptables masquerade rules. Comments, blank lines, the shebang and
// "set …" are ignored; everything else is listed in Unknown and has no
// effect.
//
// Base64 user data (as the EC2 API returns it) is decoded first when it
// decodes to a "#!" script.
//
// The result is the state at the end of the script, not line by line:
// command order and "set -e" aborting on a failing command are not modelled
// (GUESS that this matters only for scripts the operator does not render).
//
// It returns ErrNoUserData for an empty script and an error naming the line
// for an unterminated quote or a recognised command with invalid arguments
// (which would fail, and under "set -e" abort the script).
func ParseUserData(script string) (RouterConfig, error) {
	if strings.TrimSpace(script) == "" {
		return RouterConfig{}, ErrNoUserData
	}
	if !strings.HasPrefix(script, "#!") {
		if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(script)); err == nil &&
			strings.HasPrefix(string(dec), "#!") && utf8.Valid(dec) {
			script = string(dec)
		}
	}
	p := &parser{
		cfg:       RouterConfig{Tables: map[int][]Route{}},
		linkUp:    map[string]bool{},
		upLines:   map[string][]lineText{},
		addrs:     map[string][]addrEntry{},
		fdb:       map[string][]fdbEntry{},
		nftTables: map[string]bool{},
		nftNAT:    map[string]bool{},
	}
	if rest, ok := strings.CutPrefix(script, "#!"); ok {
		first, _, _ := strings.Cut(rest, "\n")
		p.cfg.Shebang = strings.TrimSpace(first)
	}
	cmds, err := splitShell(script)
	if err != nil {
		return RouterConfig{}, err
	}
	for seq, c := range cmds {
		if p.stop {
			break
		}
		lt := lineText{c.line, seq, c.raw}
		if c.dynamic { // we cannot know what $X expands to
			p.unknown = append(p.unknown, lt)
			continue
		}
		known, err := p.exec(c.words, c.redirs, lt)
		if err != nil {
			return RouterConfig{}, fmt.Errorf("line %d: %q: %w", c.line, c.raw, err)
		}
		if !known {
			p.unknown = append(p.unknown, lt)
		}
	}
	p.finish()
	return p.cfg, nil
}

func (p *parser) exec(w, redirs []string, lt lineText) (bool, error) {
	if len(w) > 0 && w[0] == "sudo" {
		w = w[1:]
	}
	if len(w) == 0 {
		return false, nil
	}
	switch w[0] {
	case "set", "true", ":":
		return true, nil
	case "exit":
		p.stop = true
		return true, nil
	case "sysctl":
		return p.sysctl(w[1:])
	case "echo":
		return p.echo(w[1:], redirs)
	case "ip":
		return p.ip(w[1:], lt)
	case "bridge":
		return p.bridge(w[1:], lt)
	case "nft":
		return p.nft(w[1:])
	case "iptables", "iptables-legacy", "iptables-nft":
		return p.iptables(w[1:])
	}
	return false, nil
}

// ---- forwarding ----

func forwardKey(k string) bool {
	k = strings.ReplaceAll(k, "/", ".")
	// Writing conf.all.forwarding also sets ip_forward (Documentation/networking/ip-sysctl).
	return k == "net.ipv4.ip_forward" || k == "net.ipv4.conf.all.forwarding"
}

func parseBool01(v string) (bool, error) {
	switch v {
	case "1":
		return true, nil
	case "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid value %q", v)
}

func (p *parser) sysctl(args []string) (bool, error) {
	known := true
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			switch {
			case a == "--write" || a == "--quiet" || a == "--ignore":
				continue
			case len(a) > 1 && strings.Trim(a[1:], "wqe") == "" && !strings.HasPrefix(a, "--"):
				continue // -w, -q, -e, combined as -qw
			}
			return false, nil // -p loads a file we cannot see
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			continue // a read: no effect
		}
		if !forwardKey(k) {
			known = false // other keys (rp_filter, …) are not modelled
			continue
		}
		b, err := parseBool01(strings.TrimSpace(v))
		if err != nil {
			return false, err
		}
		p.cfg.IPForward = b
	}
	return known, nil
}

func (p *parser) echo(args, redirs []string) (bool, error) {
	if len(args) != 1 || len(redirs) != 1 || !strings.HasPrefix(redirs[0], "/proc/sys/") ||
		!forwardKey(strings.TrimPrefix(redirs[0], "/proc/sys/")) {
		return false, nil
	}
	b, err := parseBool01(args[0])
	if err != nil {
		return false, err
	}
	p.cfg.IPForward = b
	return true, nil
}

// ---- ip ----

// ipObject resolves iproute2's abbreviations ("ip r", "ip a", "ip ru").
func ipObject(s string) string {
	for _, full := range []string{"route", "rule", "address", "link"} {
		min := 1
		if full == "rule" {
			min = 2 // "r" is route
		}
		if len(s) >= min && strings.HasPrefix(full, s) {
			return full
		}
	}
	return ""
}

func (p *parser) ip(args []string, lt lineText) (bool, error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if args[0] != "-4" {
			return false, nil // -6, -batch, -netns …: not modelled
		}
		args = args[1:]
	}
	if len(args) < 2 {
		return false, nil
	}
	obj, verb, rest := ipObject(args[0]), args[1], args[2:]
	switch {
	case obj == "link" && verb == "add":
		return p.linkAdd(rest)
	case obj == "link" && verb == "set":
		return p.linkSet(rest, lt)
	case obj == "address" && (verb == "add" || verb == "replace"):
		return p.addrAdd(rest, lt)
	case obj == "rule" && verb == "add":
		return p.ruleAdd(rest)
	case obj == "route" && (verb == "add" || verb == "replace" || verb == "append"):
		return p.routeAdd(verb, rest)
	}
	return false, nil
}

// parseInt parses a decimal in lo..hi. Priorities and metrics are u32 in
// the kernel; callers cap them at MaxInt32 so int stays portable to 32-bit
// targets (no real script uses more).
func parseInt(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("invalid number %q (want %d..%d)", s, lo, hi)
	}
	return n, nil
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("invalid IPv4 address %q", s)
	}
	return a, nil
}

// vxlanFlags are the valueless options of "ip link add … type vxlan".
var vxlanFlags = map[string]bool{
	"learning": true, "nolearning": true, "proxy": true, "noproxy": true, "rsc": true, "norsc": true,
	"l2miss": true, "nol2miss": true, "l3miss": true, "nol3miss": true, "udpcsum": true, "noudpcsum": true,
	"udp6zerocsumtx": true, "noudp6zerocsumtx": true, "udp6zerocsumrx": true, "noudp6zerocsumrx": true,
	"external": true, "noexternal": true, "gbp": true, "gpe": true,
}

// vxlanValued are the one-value options we accept without modelling.
var vxlanValued = map[string]bool{
	"local": true, "dev": true, "ttl": true, "hoplimit": true, "tos": true, "ageing": true,
	"maxaddress": true, "label": true, "df": true, "flowlabel": true,
}

func (p *parser) linkAdd(args []string) (bool, error) {
	if len(args) > 0 && (args[0] == "dev" || args[0] == "name") {
		args = args[1:]
	}
	if len(args) < 3 || args[1] != "type" || args[2] != "vxlan" {
		return false, nil // other link types, or options before "type"
	}
	name, opts := args[0], args[3:]
	if p.cfg.VXLANDev != "" {
		return false, nil // only one VXLAN link is modelled
	}
	id, port := -1, linuxVXLANDefaultPort
	var remote netip.Addr
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		if vxlanFlags[o] {
			continue
		}
		if i+1 >= len(opts) {
			return false, fmt.Errorf("vxlan option %q needs a value", o)
		}
		v := opts[i+1]
		i++
		var err error
		switch {
		case o == "id" || o == "vni":
			id, err = parseInt(v, 0, 1<<24-1)
		case o == "dstport":
			port, err = parseInt(v, 0, 65535)
			if port == 0 {
				port = linuxVXLANDefaultPort
			}
		case o == "remote":
			remote, err = parseAddr(v)
		case o == "srcport":
			i++ // two values
		case vxlanValued[o]:
		default:
			return false, nil // group, port … : not modelled
		}
		if err != nil {
			return false, err
		}
	}
	if id < 0 {
		return false, errors.New("vxlan: missing virtual network identifier")
	}
	p.cfg.VXLANDev, p.cfg.VXLANID, p.cfg.VXLANPort = name, id, port
	p.linkRmt = remote
	return true, nil
}

func (p *parser) linkSet(args []string, lt lineText) (bool, error) {
	if len(args) > 0 && args[0] == "dev" {
		args = args[1:]
	}
	if len(args) < 2 {
		return false, nil
	}
	name := args[0]
	up, set := false, false
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "up":
			up, set = true, true
		case "down":
			up, set = false, true
		case "mtu", "txqueuelen", "qlen", "arp", "multicast":
			i++
		default:
			return false, nil // name, netns, master …: not modelled
		}
	}
	if set {
		p.linkUp[name] = up
	}
	// Resolved in finish: the link may be created later in the script.
	p.upLines[name] = append(p.upLines[name], lt)
	return true, nil
}

func (p *parser) addrAdd(args []string, lt lineText) (bool, error) {
	var (
		pfx     netip.Prefix
		dev     string
		noRoute bool
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "dev":
			if i+1 >= len(args) {
				return false, errors.New("dev needs a value")
			}
			dev = args[i+1]
			i++
		case "broadcast", "brd", "label", "scope", "valid_lft", "preferred_lft", "metric":
			i++
		case "noprefixroute":
			noRoute = true
		case "local":
			continue
		case "peer", "anycast":
			return false, nil
		default:
			if pfx.IsValid() {
				return false, nil
			}
			var err error
			if pfx, err = parsePrefix(a, false); err != nil {
				return false, err
			}
		}
	}
	if !pfx.IsValid() || dev == "" {
		return false, errors.New("address and dev are required")
	}
	p.addrs[dev] = append(p.addrs[dev], addrEntry{pfx, noRoute, lt})
	return true, nil
}

// parsePrefix parses A/P or A (a /32). With canonical set, host bits must
// be zero, as the kernel demands of route destinations ("Invalid prefix for
// given prefix length").
func parsePrefix(s string, canonical bool) (netip.Prefix, error) {
	switch s {
	case "default", "all", "0/0", "any":
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	if !strings.Contains(s, "/") {
		a, err := parseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, 32), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil || !pfx.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("invalid IPv4 prefix %q", s)
	}
	if canonical && pfx.Masked() != pfx {
		return netip.Prefix{}, fmt.Errorf("invalid prefix %q for its length", s)
	}
	return pfx, nil
}

func parseTable(s string) (int, error) {
	switch s {
	case "main":
		return TableMain, nil
	case "local":
		return TableLocal, nil
	case "default":
		return TableDefault, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid table %q", s)
	}
	return int(n), nil
}

func (p *parser) ruleAdd(args []string) (bool, error) {
	r := PolicyRule{Action: "lookup", Table: TableMain, Priority: -1}
	next := func(i int) (string, error) {
		if i+1 >= len(args) {
			return "", fmt.Errorf("%s needs a value", args[i])
		}
		return args[i+1], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "not" {
			r.Not = true
			continue
		}
		if a == "blackhole" || a == "unreachable" || a == "prohibit" {
			r.Action = a
			continue
		}
		v, err := next(i)
		if err != nil {
			return false, err
		}
		i++
		switch a {
		case "from", "to":
			pfx, err := parsePrefix(v, false)
			if err != nil {
				return false, err
			}
			if pfx.Bits() == 0 {
				pfx = netip.Prefix{}
			}
			if a == "from" {
				r.From = pfx.Masked()
			} else {
				r.To = pfx.Masked()
			}
		case "iif", "dev":
			r.IIF = v
		case "oif":
			r.OIF = v
		case "lookup", "table":
			if r.Table, err = parseTable(v); err != nil {
				return false, err
			}
		case "priority", "pref", "preference", "prio", "order":
			if r.Priority, err = parseInt(v, 0, math.MaxInt32); err != nil {
				return false, err
			}
		default:
			return false, nil // fwmark, ipproto, uidrange, goto …: not modelled
		}
	}
	if r.Priority < 0 {
		// The kernel gives an unnumbered rule one less than the lowest
		// existing priority above 0 (fib_default_rule_pref).
		low := 32766
		for _, x := range p.cfg.Rules {
			if x.Priority > 0 && x.Priority < low {
				low = x.Priority
			}
		}
		r.Priority = low - 1
	}
	p.cfg.Rules = append(p.cfg.Rules, r)
	slices.SortStableFunc(p.cfg.Rules, func(a, b PolicyRule) int { return a.Priority - b.Priority })
	return true, nil
}

var routeTypes = map[string]bool{RouteUnicast: true, RouteTypeBlack: true, RouteUnreachable: true, RouteProhibit: true, RouteThrow: true}

func (p *parser) routeAdd(verb string, args []string) (bool, error) {
	r := Route{Type: RouteUnicast}
	table := TableMain
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "onlink" || a == "pervasive" {
			r.OnLink = r.OnLink || a == "onlink"
			continue
		}
		if routeTypes[a] && !r.Dest.IsValid() {
			r.Type = a
			continue
		}
		switch a {
		case "local", "broadcast", "multicast", "nat", "anycast", "nexthop", "nhid", "encap":
			return false, nil
		}
		isKey := true
		switch a {
		case "via", "dev", "oif", "table", "metric", "priority", "preference", "proto", "protocol",
			"scope", "src", "mtu", "advmss", "realm", "realms", "initcwnd", "initrwnd", "to", "tos", "dsfield":
		default:
			isKey = false
		}
		if !isKey {
			if r.Dest.IsValid() {
				return false, nil // something we do not know
			}
			pfx, err := parsePrefix(a, true)
			if err != nil {
				return false, err
			}
			r.Dest = pfx
			continue
		}
		if i+1 >= len(args) {
			return false, fmt.Errorf("%s needs a value", a)
		}
		v := args[i+1]
		i++
		var err error
		switch a {
		case "to":
			r.Dest, err = parsePrefix(v, true)
		case "via":
			if v == "inet" && i+1 < len(args) {
				v = args[i+1]
				i++
			}
			r.Via, err = parseAddr(v)
		case "dev", "oif":
			r.Dev = v
		case "table":
			table, err = parseTable(v)
		case "metric", "priority", "preference":
			r.Metric, err = parseInt(v, 0, math.MaxInt32)
		}
		if err != nil {
			return false, err
		}
	}
	if !r.Dest.IsValid() {
		return false, errors.New("no destination")
	}
	if r.Type == RouteUnicast && !r.Via.IsValid() && r.Dev == "" {
		return false, errors.New("a unicast route needs via or dev")
	}
	routes := p.cfg.Tables[table]
	same := slices.IndexFunc(routes, func(x Route) bool { return x.Dest == r.Dest && x.Metric == r.Metric })
	switch {
	case verb == "replace" && same >= 0:
		routes[same] = r
	case verb == "add" && same >= 0:
		// The kernel refuses a second route with the same key ("File
		// exists"); the first stays.
	default:
		routes = append(routes, r)
	}
	p.cfg.Tables[table] = routes
	return true, nil
}

// ---- bridge ----

func (p *parser) bridge(args []string, lt lineText) (bool, error) {
	if len(args) < 3 || args[0] != "fdb" || (args[1] != "append" && args[1] != "add" && args[1] != "replace") {
		return false, nil
	}
	mac, opts := args[2], args[3:]
	if !strings.EqualFold(mac, "00:00:00:00:00:00") {
		// A unicast entry forwards one MAC only; we do not know the VPG's
		// MACs, so such entries are not modelled.
		return false, nil
	}
	var (
		dev string
		dst netip.Addr
	)
	for i := 0; i < len(opts); i++ {
		switch o := opts[i]; o {
		case "self", "master", "permanent", "static", "dynamic", "router", "use", "extern_learn", "sticky", "local", "temp":
		case "dev", "dst":
			if i+1 >= len(opts) {
				return false, fmt.Errorf("%s needs a value", o)
			}
			i++
			if o == "dev" {
				dev = opts[i]
				continue
			}
			var err error
			if dst, err = parseAddr(opts[i]); err != nil {
				return false, err
			}
		default:
			return false, nil // port, vni, src_vni, via: per-entry overrides not modelled
		}
	}
	if dev == "" || !dst.IsValid() {
		return false, nil
	}
	p.fdb[dev] = append(p.fdb[dev], fdbEntry{dst, lt})
	return true, nil
}

// ---- nft / iptables ----

var nftFamilies = map[string]bool{"ip": true, "ip6": true, "inet": true, "arp": true, "bridge": true, "netdev": true}

func (p *parser) nft(args []string) (bool, error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if args[0] != "-e" && args[0] != "-a" {
			return false, nil // -f file …
		}
		args = args[1:]
	}
	// nft joins its arguments and parses them itself, so quoting does not
	// matter: re-split the text, separating braces and semicolons.
	text := strings.Join(args, " ")
	for _, s := range []string{"{", "}", ";"} {
		text = strings.ReplaceAll(text, s, " "+s+" ")
	}
	f := strings.Fields(text)
	if len(f) < 3 || (f[0] != "add" && f[0] != "create" && f[0] != "insert") {
		return false, nil
	}
	obj, f := f[1], f[2:]
	family := "ip"
	if nftFamilies[f[0]] {
		family, f = f[0], f[1:]
	}
	switch obj {
	case "table":
		if len(f) != 1 {
			return false, nil
		}
		p.nftTables[family+" "+f[0]] = true
		return true, nil
	case "chain":
		if len(f) < 2 {
			return false, nil
		}
		key := family + " " + f[0] + " " + f[1]
		spec := f[2:]
		isNAT := nextIs(spec, "type", "nat") && nextIs(spec, "hook", "postrouting")
		p.nftNAT[key] = p.nftNAT[key] || isNAT
		return true, nil
	case "rule":
		if len(f) < 3 {
			return false, nil
		}
		r := natRule{family: family, table: f[0], chain: f[1]}
		expr := f[2:]
		masq := false
		for i := 0; i < len(expr); i++ {
			switch e := expr[i]; {
			case (e == "oifname" || e == "oif") && i+1 < len(expr):
				r.oif = strings.Trim(expr[i+1], `"`)
				i++
			case e == "counter":
			case e == "masquerade" && !masq:
				masq = true
			case masq && (e == "random" || e == "fully-random" || e == "persistent" || e == ","):
			default:
				return false, nil // other matches or statements
			}
		}
		if !masq {
			return false, nil
		}
		p.nat = append(p.nat, r)
		return true, nil
	}
	return false, nil
}

func nextIs(f []string, key, want string) bool {
	i := slices.Index(f, key)
	return i >= 0 && i+1 < len(f) && f[i+1] == want
}

func (p *parser) iptables(args []string) (bool, error) {
	var table, chain, oif, jump string
	table = "filter"
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func() (string, bool) {
			if i+1 >= len(args) {
				return "", false
			}
			i++
			return args[i], true
		}
		var ok bool
		switch a {
		case "-t", "--table":
			table, ok = val()
		case "-A", "--append":
			chain, ok = val()
		case "-I", "--insert":
			chain, ok = val()
			if ok && i+1 < len(args) && isDigits(args[i+1]) {
				i++
			}
		case "-o", "--out-interface":
			oif, ok = val()
		case "-j", "--jump":
			jump, ok = val()
		case "-w", "--wait":
			ok = true
			if i+1 < len(args) && isDigits(args[i+1]) {
				i++
			}
		case "--random", "--random-fully":
			ok = jump == "MASQUERADE"
		}
		if !ok {
			return false, nil // other matches: not modelled
		}
	}
	if table != "nat" || chain != "POSTROUTING" || jump != "MASQUERADE" {
		return false, nil
	}
	p.nat = append(p.nat, natRule{oif: oif, iptables: true})
	return true, nil
}

// ifMatches reports whether an nft/iptables interface match covers dev
// (iptables' trailing "+" is a prefix wildcard).
func ifMatches(match, dev string) bool {
	if match == "" {
		return true
	}
	if pre, ok := strings.CutSuffix(match, "+"); ok {
		return strings.HasPrefix(dev, pre)
	}
	return match == dev
}

// finish resolves what depends on the whole script: which link is the VXLAN
// one, its state, addresses, remotes, and whether a masquerade rule is
// attached to a real NAT postrouting chain.
func (p *parser) finish() {
	dev := p.cfg.VXLANDev
	for name, lts := range p.upLines {
		if name != dev || dev == "" {
			p.unknown = append(p.unknown, lts...)
		}
	}
	if dev != "" {
		p.cfg.VXLANUp = p.linkUp[dev]
	}
	for name, es := range p.addrs {
		if name != dev || dev == "" {
			for _, e := range es {
				p.unknown = append(p.unknown, e.lineText)
			}
		}
	}
	for name, es := range p.fdb {
		if name != dev || dev == "" {
			for _, e := range es {
				p.unknown = append(p.unknown, e.lineText)
			}
		}
	}
	if dev != "" {
		seen := map[netip.Addr]bool{}
		add := func(a netip.Addr) {
			if a.IsValid() && !seen[a] {
				seen[a] = true
				p.cfg.Remotes = append(p.cfg.Remotes, a)
			}
		}
		add(p.linkRmt)
		for _, e := range p.fdb[dev] {
			add(e.dst)
		}
		var kernel []Route
		for i, a := range p.addrs[dev] {
			if i == 0 {
				p.cfg.InnerAddr = a.prefix
			}
			// The kernel adds the connected route only while the link is up,
			// and not for noprefixroute addresses.
			if p.cfg.VXLANUp && !a.noPrefixRoute {
				kernel = append(kernel, Route{Type: RouteUnicast, Dest: a.prefix.Masked(), Dev: dev, Kernel: true})
			}
		}
		if len(kernel) > 0 {
			// Connected routes exist before any route the script adds.
			p.cfg.Tables[TableMain] = append(kernel, p.cfg.Tables[TableMain]...)
		}
	}
	out := dev
	if out == "" {
		out = "vxlan0"
	}
	for _, r := range p.nat {
		if !ifMatches(r.oif, out) {
			continue
		}
		if r.iptables {
			p.cfg.Masquerade = true
			continue
		}
		if (r.family == "ip" || r.family == "inet") && p.nftTables[r.family+" "+r.table] &&
			p.nftNAT[r.family+" "+r.table+" "+r.chain] {
			p.cfg.Masquerade = true
		}
	}
	slices.SortFunc(p.unknown, func(a, b lineText) int { return a.seq - b.seq })
	for _, u := range p.unknown {
		p.cfg.Unknown = append(p.cfg.Unknown, u.text)
	}
}
