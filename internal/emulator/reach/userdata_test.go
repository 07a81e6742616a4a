package reach

import (
	"encoding/base64"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseUserDataOperatorScript(t *testing.T) {
	got, err := ParseUserData(routerUserData)
	if err != nil {
		t.Fatal(err)
	}
	want := RouterConfig{
		Shebang:   "/bin/sh",
		IPForward: true,
		VXLANDev:  "vxlan0", VXLANID: 10, VXLANPort: 4789, VXLANUp: true,
		Remotes:   []netip.Addr{ip("100.64.1.10"), ip("100.64.1.11")},
		InnerAddr: pfx("10.255.255.253/9"),
		Rules:     []PolicyRule{{Priority: 100, Not: true, IIF: "lo", Action: "lookup", Table: 100}},
		Tables: map[int][]Route{
			TableMain: {{Type: RouteUnicast, Dest: pfx("10.128.0.0/9"), Dev: "vxlan0", Kernel: true}},
			100: {
				{Type: RouteUnicast, Dest: pfx("10.0.0.0/16"), Via: ip("10.0.1.1")},
				{Type: RouteUnicast, Dest: pfx("0.0.0.0/0"), Via: ip("10.255.255.254"), Dev: "vxlan0"},
			},
		},
		Masquerade: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseUserData:\n got %#v\nwant %#v", got, want)
	}
	// The same script base64-encoded, as the EC2 API returns user data.
	got64, err := ParseUserData(b64(routerUserData))
	if err != nil || !reflect.DeepEqual(got64, want) {
		t.Errorf("base64: %v\n got %#v", err, got64)
	}
}

// TestParseUserDataVariants edits the operator's script and checks the
// fields the edit should change.
func TestParseUserDataVariants(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(routerUserData, old+"\n") {
			t.Fatalf("no line %q", old)
		}
		if new != "" {
			new += "\n"
		}
		return strings.Replace(routerUserData, old+"\n", new, 1)
	}
	noNft := func(extra string) string {
		s := routerUserData
		for _, l := range []string{"nft add table ip gatestream", lineChain, lineMasq} {
			s = strings.Replace(s, l+"\n", "", 1)
		}
		return s + extra + "\n"
	}
	tests := []struct {
		name   string
		script string
		check  func(c RouterConfig) bool
	}{
		{"iptables masquerade", noNft("iptables -t nat -A POSTROUTING -o vxlan0 -j MASQUERADE"),
			func(c RouterConfig) bool { return c.Masquerade && len(c.Unknown) == 0 }},
		{"iptables insert with wildcard interface and wait", noNft("iptables -w -t nat -I POSTROUTING 1 -o vxlan+ -j MASQUERADE"),
			func(c RouterConfig) bool { return c.Masquerade }},
		{"iptables masquerade on eth0 only", noNft("iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE"),
			func(c RouterConfig) bool { return !c.Masquerade }},
		{"iptables with a source match is not modelled", noNft("iptables -t nat -A POSTROUTING -s 10.0.0.0/16 -o vxlan0 -j MASQUERADE"),
			func(c RouterConfig) bool { return !c.Masquerade && len(c.Unknown) == 1 }},
		{"iptables filter table", noNft("iptables -A POSTROUTING -o vxlan0 -j MASQUERADE"),
			func(c RouterConfig) bool { return !c.Masquerade }},
		{"no nft at all", noNft(""), func(c RouterConfig) bool { return !c.Masquerade }},
		{"nft rule without its table", edit("nft add table ip gatestream", ""),
			func(c RouterConfig) bool { return !c.Masquerade }},
		{"nft chain is a filter chain",
			edit(lineChain, "nft add chain ip gatestream postrouting '{ type filter hook postrouting priority 100 ; }'"),
			func(c RouterConfig) bool { return !c.Masquerade }},
		{"nft masquerade on another interface", edit(lineMasq, `nft add rule ip gatestream postrouting oifname "eth0" masquerade`),
			func(c RouterConfig) bool { return !c.Masquerade }},
		{"nft inet family, unquoted braces, counter",
			strings.NewReplacer(
				"nft add table ip gatestream", "nft add table inet gs",
				lineChain, `nft add chain inet gs post { type nat hook postrouting priority srcnat \; }`,
				lineMasq, `nft add rule inet gs post oifname vxlan0 counter masquerade`).Replace(routerUserData),
			func(c RouterConfig) bool { return c.Masquerade && len(c.Unknown) == 0 }},
		{"ip_forward via /proc", edit(lineForward, "echo 1 > /proc/sys/net/ipv4/ip_forward"),
			func(c RouterConfig) bool { return c.IPForward && len(c.Unknown) == 0 }},
		{"ip_forward via conf.all.forwarding, combined flags", edit(lineForward, "sysctl -qw net.ipv4.conf.all.forwarding=1"),
			func(c RouterConfig) bool { return c.IPForward && len(c.Unknown) == 0 }},
		{"sysctl -p reads a file we cannot see", edit(lineForward, "sysctl -p /etc/sysctl.d/99-router.conf"),
			func(c RouterConfig) bool { return !c.IPForward && len(c.Unknown) == 1 }},
		{"ip_forward via conf.all.forwarding, separate flags", edit(lineForward, "sysctl -q -w net/ipv4/conf/all/forwarding=1"),
			func(c RouterConfig) bool { return c.IPForward }},
		{"ip_forward turned off later", routerUserData + "sysctl -w net.ipv4.ip_forward=0\n",
			func(c RouterConfig) bool { return !c.IPForward }},
		{"no sysctl", edit(lineForward, ""), func(c RouterConfig) bool { return !c.IPForward }},
		{"no vxlan link", edit(lineLink, ""),
			func(c RouterConfig) bool {
				// fdb, addr and link set lines name a link that does not exist.
				return c.VXLANDev == "" && c.VXLANID == 0 && len(c.Remotes) == 0 && !c.InnerAddr.IsValid() &&
					len(c.Unknown) == 4 && len(c.Tables[TableMain]) == 0
			}},
		{"vxlan without dstport: kernel default 8472", edit(lineLink, "ip link add vxlan0 type vxlan id 10"),
			func(c RouterConfig) bool { return c.VXLANPort == 8472 }},
		{"vxlan dstport 0: kernel default", edit(lineLink, "ip link add vxlan0 type vxlan id 10 dstport 0"),
			func(c RouterConfig) bool { return c.VXLANPort == 8472 }},
		{"vxlan with remote, options and vni", edit(lineLink, "ip link add name vxlan0 type vxlan vni 7 dstport 4789 remote 100.64.1.12 dev eth0 nolearning ttl 64"),
			func(c RouterConfig) bool {
				return c.VXLANID == 7 && slices.Equal(c.Remotes, []netip.Addr{ip("100.64.1.12"), ip("100.64.1.10"), ip("100.64.1.11")})
			}},
		{"vxlan with multicast group is not modelled", edit(lineLink, "ip link add vxlan0 type vxlan id 10 group 239.1.1.1 dstport 4789"),
			func(c RouterConfig) bool { return c.VXLANDev == "" }},
		{"link never up: no connected route", edit(lineUp, ""),
			func(c RouterConfig) bool { return !c.VXLANUp && len(c.Tables[TableMain]) == 0 && c.InnerAddr.IsValid() }},
		{"link set down later", routerUserData + "ip link set dev vxlan0 down\n",
			func(c RouterConfig) bool { return !c.VXLANUp }},
		{"noprefixroute address", edit(lineAddr, "ip addr add 10.255.255.253/9 dev vxlan0 noprefixroute"),
			func(c RouterConfig) bool {
				return c.InnerAddr == pfx("10.255.255.253/9") && len(c.Tables[TableMain]) == 0
			}},
		{"duplicate fdb remote", edit(lineFDB11, lineFDB10),
			func(c RouterConfig) bool { return slices.Equal(c.Remotes, []netip.Addr{ip("100.64.1.10")}) }},
		{"unicast fdb entry is not modelled", edit(lineFDB11, "bridge fdb append 02:00:00:00:00:01 dev vxlan0 dst 100.64.1.11"),
			func(c RouterConfig) bool { return len(c.Remotes) == 1 && len(c.Unknown) == 1 }},
		{"no rule", edit(lineRule, ""), func(c RouterConfig) bool { return len(c.Rules) == 0 }},
		{"rules without priority get decreasing ones",
			edit(lineRule, "ip rule add from 10.0.0.0/16 table 100\nip ru add to 192.168.0.0/16 lookup main"),
			func(c RouterConfig) bool {
				return len(c.Rules) == 2 && c.Rules[0].Priority == 32764 && c.Rules[0].To == pfx("192.168.0.0/16") &&
					c.Rules[1].Priority == 32765 && c.Rules[1].From == pfx("10.0.0.0/16") && c.Rules[1].Table == 100
			}},
		{"fwmark rule is not modelled", edit(lineRule, "ip rule add fwmark 1 lookup 100"),
			func(c RouterConfig) bool { return len(c.Rules) == 0 && len(c.Unknown) == 1 }},
		{"abbreviated ip commands", strings.NewReplacer(lineAddr, "ip a add 10.255.255.253/9 dev vxlan0",
			lineDefault, "ip r add 0.0.0.0/0 via 10.255.255.254 dev vxlan0 table 100").Replace(routerUserData),
			func(c RouterConfig) bool { return c.InnerAddr.IsValid() && len(c.Tables[100]) == 2 }},
		{"route add twice keeps the first", routerUserData + "ip route add default via 10.0.1.1 table 100\n",
			func(c RouterConfig) bool { return c.Tables[100][1].Via == ip("10.255.255.254") }},
		{"route replace replaces", routerUserData + "ip route replace default via 10.0.1.1 table 100\n",
			func(c RouterConfig) bool { return len(c.Tables[100]) == 2 && c.Tables[100][1].Via == ip("10.0.1.1") }},
		{"blackhole and throw routes", routerUserData + "ip route add blackhole 10.200.0.0/16 table 100\nip route add throw 10.201.0.0/16 table 100\n",
			func(c RouterConfig) bool {
				return len(c.Tables[100]) == 4 && c.Tables[100][2].Type == RouteTypeBlack && c.Tables[100][3].Type == RouteThrow
			}},
		{"shell syntax: continuation, separators, trailing comment, redirection",
			strings.NewReplacer(lineForward, "sysctl -w \\\n  net.ipv4.ip_forward=1 >/dev/null 2>&1 # enable",
				lineUp, "ip link set vxlan0 up; true && ip rule add not iif lo lookup 100 priority 100",
				lineRule, "").Replace(routerUserData),
			func(c RouterConfig) bool { return c.IPForward && c.VXLANUp && len(c.Rules) == 1 && len(c.Unknown) == 0 }},
		{"exit stops the script", edit(lineMasq, "exit 0\n"+lineMasq),
			func(c RouterConfig) bool { return !c.Masquerade }},
		{"sudo prefix", edit(lineForward, "sudo sysctl -w net.ipv4.ip_forward=1"),
			func(c RouterConfig) bool { return c.IPForward }},
		{"no shebang", edit("#!/bin/sh", ""), func(c RouterConfig) bool { return c.Shebang == "" && c.IPForward }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseUserData(tc.script)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config: %#v", c)
			}
		})
	}
}

func TestParseUserDataUnknownLines(t *testing.T) {
	garbage := []string{
		"modprobe vxlan",
		"echo hello",
		"curl -s http://169.254.169.254/latest/meta-data/ | sh",
		"ip -6 route add ::/0 dev vxlan0",
		"sysctl -w net.ipv4.conf.all.rp_filter=0",
		"ip route add 10.9.0.0/16 via $GW table 100",
		"if true; then",
		"fi",
	}
	script := routerUserData + strings.Join(garbage, "\n") + "\n"
	c, err := ParseUserData(script)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"modprobe vxlan",
		"echo hello",
		"curl -s http://169.254.169.254/latest/meta-data/",
		"sh",
		"ip -6 route add ::/0 dev vxlan0",
		"sysctl -w net.ipv4.conf.all.rp_filter=0",
		"ip route add 10.9.0.0/16 via $GW table 100",
		"if true",
		"then",
		"fi",
	}
	if !slices.Equal(c.Unknown, want) {
		t.Errorf("Unknown:\n got %q\nwant %q", c.Unknown, want)
	}
	// The modelled part is unaffected.
	if !c.IPForward || !c.Masquerade || c.VXLANID != 10 || len(c.Tables[100]) != 2 {
		t.Errorf("config changed by garbage: %#v", c)
	}
}

func TestParseUserDataErrors(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"unterminated quote", "#!/bin/sh\nnft add chain ip t c '{ type nat\n", "line 2: unterminated quote"},
		{"vxlan id not a number", "#!/bin/sh\nip link add vxlan0 type vxlan id ten dstport 4789\n", "line 2"},
		{"vxlan id missing", "#!/bin/sh\nip link add vxlan0 type vxlan dstport 4789\n", "missing virtual network identifier"},
		{"route prefix with host bits", "#!/bin/sh\nip route add 10.0.0.1/16 via 10.0.1.1 table 100\n", "invalid prefix"},
		{"bad address", "#!/bin/sh\nip addr add 300.1.1.1/9 dev vxlan0\n", "invalid IPv4"},
		{"bad fdb dst", "#!/bin/sh\nbridge fdb append 00:00:00:00:00:00 dev vxlan0 dst nowhere\n", "invalid IPv4"},
		{"ip_forward=2", "#!/bin/sh\nsysctl -w net.ipv4.ip_forward=2\n", "invalid value"},
		{"route without nexthop", "#!/bin/sh\nip route add 10.0.0.0/16 table 100\n", "needs via or dev"},
		{"bad table", "#!/bin/sh\nip rule add lookup nosuch\n", "invalid table"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseUserData(tc.script)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	for _, empty := range []string{"", "  \n\t\n"} {
		if _, err := ParseUserData(empty); !errors.Is(err, ErrNoUserData) {
			t.Errorf("ParseUserData(%q) = %v, want ErrNoUserData", empty, err)
		}
	}
}

// TestHostResolve covers the routing decision on hand-built configs.
func TestHostResolve(t *testing.T) {
	base := func() RouterConfig {
		c, err := ParseUserData(routerUserData)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		extra   string // appended to the operator script
		iif     string
		dst     string
		wantDev string // "" : no route
		wantTbl int
	}{
		{"forwarded to a SIM", "", nicName, "10.128.0.5", "vxlan0", 100},
		{"forwarded to a LAN", "", nicName, "192.168.1.10", "vxlan0", 100},
		{"forwarded to the VPC", "", nicName, "10.0.0.25", nicName, 100},
		{"reply from the tunnel", "", "vxlan0", "10.0.0.25", nicName, 100},
		{"local traffic skips table 100", "", "lo", "192.168.1.10", nicName, TableMain},
		{"throw falls through to main", "ip route add throw 192.168.0.0/16 table 100", nicName, "192.168.1.10", nicName, TableMain},
		{"blackhole route stops", "ip route add blackhole 192.168.0.0/16 table 100", nicName, "192.168.1.10", "", 100},
		{"unreachable rule stops", "ip rule add to 192.168.0.0/16 unreachable priority 50", nicName, "192.168.1.10", "", 0},
		{"lower metric wins a tie", "ip route add 192.168.1.0/24 via 10.0.1.1 metric 5 table 100\nip route add 192.168.1.0/24 dev vxlan0 metric 1 table 100",
			nicName, "192.168.1.10", "vxlan0", 100},
		{"longer prefix wins", "ip route add 192.168.1.0/24 via 10.0.1.1 table 100", nicName, "192.168.1.10", nicName, 100},
		{"route via an off-link gateway is never installed", "ip route add 192.168.1.0/24 via 10.9.9.9 table 100", nicName, "192.168.1.10", "vxlan0", 100},
		{"router's own inner address is local", "", nicName, "10.255.255.253", "", TableLocal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			if tc.extra != "" {
				var err error
				if c, err = ParseUserData(routerUserData + tc.extra + "\n"); err != nil {
					t.Fatal(err)
				}
			}
			h := newHost(c, pfx("10.0.1.0/24"), ip("10.0.1.10"))
			d := h.resolve(tc.iif, ip("10.0.0.25"), ip(tc.dst))
			if tc.name == "router's own inner address is local" {
				if !d.ok || !d.local {
					t.Fatalf("decision %#v, want local", d)
				}
				return
			}
			if tc.wantDev == "" {
				if d.ok {
					t.Fatalf("decision %#v, want no route", d)
				}
				return
			}
			if !d.ok || d.dev != tc.wantDev || d.table != tc.wantTbl {
				t.Fatalf("decision dev %q table %d (%s), want %q table %d", d.dev, d.table, d.explain(), tc.wantDev, tc.wantTbl)
			}
		})
	}
}
