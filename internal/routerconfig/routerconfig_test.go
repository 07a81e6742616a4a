package routerconfig

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sample is the configuration of the brief's example script.
func sample() Config {
	return Config{
		Owner:         "ns/name",
		VXLANID:       10,
		Remotes:       []netip.Addr{netip.MustParseAddr("100.64.1.10")},
		Inner:         netip.MustParsePrefix("10.255.255.253/9"),
		VPCCIDR:       netip.MustParsePrefix("10.0.0.0/16"),
		SubnetGateway: netip.MustParseAddr("10.0.1.1"),
		VPGInner:      netip.MustParseAddr("10.255.255.254"),
		Masquerade:    true,
		IPForward:     true,
		HasPolicyRule: true,
	}
}

const sampleScript = `#!/bin/sh
# gatestream router for ns/name (managed by gatestream; do not edit)
set -eu
sysctl -w net.ipv4.ip_forward=1
ip link add vxlan0 type vxlan id 10 dstport 4789
bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 100.64.1.10
ip addr add 10.255.255.253/9 dev vxlan0
ip link set vxlan0 up
ip rule add not iif lo lookup 100 priority 100
ip route add 10.0.0.0/16 via 10.0.1.1 table 100
ip route add default via 10.255.255.254 dev vxlan0 table 100
nft add table ip gatestream
nft add chain ip gatestream postrouting '{ type nat hook postrouting priority 100 ; }'
nft add rule ip gatestream postrouting oifname "vxlan0" masquerade
`

func TestRender(t *testing.T) {
	noMasq := sample()
	noMasq.Masquerade = false
	twoRemotes := sample()
	// Unsorted and repeated: Render sorts and deduplicates.
	twoRemotes.Remotes = []netip.Addr{netip.MustParseAddr("100.64.1.20"), netip.MustParseAddr("100.64.1.10"), netip.MustParseAddr("100.64.1.20")}
	// Forwarding and the policy rule are written whatever the observation fields say.
	unobserved := sample()
	unobserved.IPForward, unobserved.HasPolicyRule = false, false
	injected := sample()
	injected.Owner = "ns/name\nreboot"

	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"brief example", sample(), sampleScript},
		{"no masquerade", noMasq, strings.Join(strings.Split(sampleScript, "\n")[:11], "\n") + "\n"},
		{"remotes sorted and deduplicated", twoRemotes, strings.Replace(sampleScript,
			"dst 100.64.1.10\n", "dst 100.64.1.10\nbridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 100.64.1.20\n", 1)},
		{"observation fields ignored", unobserved, sampleScript},
		{"owner cannot inject a line", injected, strings.Replace(sampleScript, "ns/name", "ns/name_reboot", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render(tt.c); got != tt.want {
				t.Errorf("Render:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	noMasq := sample()
	noMasq.Masquerade = false
	two := sample()
	two.Remotes = []netip.Addr{netip.MustParseAddr("100.64.1.10"), netip.MustParseAddr("100.64.1.20")}
	two.VXLANID = 16777215
	tests := []struct {
		name string
		c    Config
	}{
		{"brief example", sample()},
		{"no masquerade", noMasq},
		{"two remotes, largest VXLAN id", two},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unknown, err := Parse(Render(tt.c))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(unknown) != 0 {
				t.Errorf("unrecognised lines %q", unknown)
			}
			if !reflect.DeepEqual(got, tt.c) {
				t.Errorf("Parse(Render(c)) = %+v, want %+v", got, tt.c)
			}
		})
	}
}

func TestHash(t *testing.T) {
	other := sample()
	other.VXLANID = 11
	reordered := sample()
	reordered.Remotes = []netip.Addr{netip.MustParseAddr("100.64.1.20"), netip.MustParseAddr("100.64.1.10")}
	sorted := sample()
	sorted.Remotes = []netip.Addr{netip.MustParseAddr("100.64.1.10"), netip.MustParseAddr("100.64.1.20")}

	h := Hash(sample())
	if len(h) != 16 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("Hash = %q, want 16 hex digits", h)
	}
	tests := []struct {
		name string
		a, b Config
		same bool
	}{
		{"stable", sample(), sample(), true},
		{"VXLAN id changes it", sample(), other, false},
		{"remote order does not", reordered, sorted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hash(tt.a) == Hash(tt.b); got != tt.same {
				t.Errorf("Hash(a) == Hash(b) is %v, want %v", got, tt.same)
			}
		})
	}
}

func TestParseTolerant(t *testing.T) {
	noMasq := sample()
	noMasq.Masquerade = false
	foreign := sample()
	foreign.Owner = ""
	noFwd := sample()
	noFwd.IPForward = false
	noRule := sample()
	noRule.HasPolicyRule = false
	noDefault := sample()
	noDefault.HasPolicyRule, noDefault.VPGInner = false, netip.Addr{}

	lines := strings.Split(strings.TrimSuffix(sampleScript, "\n"), "\n")
	without := func(drop ...int) string {
		var out []string
		for i, l := range lines {
			keep := true
			for _, d := range drop {
				keep = keep && i != d
			}
			if keep {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}

	tests := []struct {
		name    string
		script  string
		want    Config
		unknown []string
	}{
		{"reordered with comments, blank lines and CRLF",
			"#!/bin/sh\r\n\r\n# gatestream router for ns/name (managed by gatestream; do not edit)\r\n" +
				"# set up the tunnel first\r\n" +
				"ip link add vxlan0 type vxlan id 10 dstport 4789   # VNI\r\n" +
				"  ip route add default via 10.255.255.254 dev vxlan0 table 100\r\n" +
				"ip address add 10.255.255.253/9 dev vxlan0\r\n" +
				"bridge fdb add 00:00:00:00:00:00 dev vxlan0 dst 100.64.1.10\r\n" +
				"ip route replace 10.0.0.0/16 via 10.0.1.1 table 100\r\n" +
				"ip rule add not iif lo table 100\r\n" +
				"echo 1 > /proc/sys/net/ipv4/ip_forward\r\n" +
				"nft add rule ip gatestream postrouting oifname vxlan0 masquerade\r\n",
			sample(), nil},
		{"iptables masquerade, sysctl without -w",
			strings.Join(slices.Concat(lines[2:11], []string{"sysctl net.ipv4.ip_forward=1", "iptables -t nat -A POSTROUTING -o vxlan0 -j MASQUERADE"}), "\n"),
			foreign, nil},
		{"no masquerade", without(11, 12, 13), noMasq, nil},
		{"forwarding off", strings.Replace(sampleScript, "ip_forward=1", "ip_forward=0", 1), noFwd, nil},
		{"forwarding missing", without(3), noFwd, nil},
		{"policy rule missing", without(8), noRule, nil},
		{"default route missing", without(10), noDefault, nil},
		{"default route not into vxlan0 is not ours", strings.Replace(sampleScript, "dev vxlan0 table 100", "dev eth0 table 100", 1),
			noDefault, []string{"line 11: ip route add default via 10.255.255.254 dev eth0 table 100"}},
		{"extra commands reported", sampleScript + "dnf install -y tcpdump\nip route add 10.1.0.0/16 via 10.0.1.1\n", sample(),
			[]string{"line 15: dnf install -y tcpdump", "line 16: ip route add 10.1.0.0/16 via 10.0.1.1"}},
		{"single-remote vxlan written by hand",
			strings.Replace(without(5), "id 10 dstport 4789", "id 10 remote 100.64.1.10 dstport 4789", 1), sample(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unknown, err := Parse(tt.script)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(unknown, tt.unknown) {
				t.Errorf("unrecognised = %q, want %q", unknown, tt.unknown)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		line     int
		contains string
	}{
		{"VXLAN id not a number", strings.Replace(sampleScript, "id 10", "id ten", 1), 5, `VXLAN id "ten"`},
		{"VXLAN id too large", strings.Replace(sampleScript, "id 10", "id 16777216", 1), 5, "0..16777215"},
		{"wrong VXLAN port", strings.Replace(sampleScript, "dstport 4789", "dstport 8472", 1), 5, "dstport must be 4789"},
		{"no VXLAN port", strings.Replace(sampleScript, " dstport 4789", "", 1), 5, "dstport must be 4789"},
		{"unknown vxlan option", strings.Replace(sampleScript, "dstport 4789", "dstport 4789 nolearning", 1), 5, `unsupported option "nolearning"`},
		{"bad remote", strings.Replace(sampleScript, "dst 100.64.1.10", "dst 100.64.1", 1), 6, `remote "100.64.1"`},
		{"bad inner address", strings.Replace(sampleScript, "10.255.255.253/9", "10.255.255.253", 1), 7, "inner address"},
		{"bad VPC gateway", strings.Replace(sampleScript, "via 10.0.1.1", "via gw", 1), 10, `gateway "gw"`},
		{"bad VPC CIDR", strings.Replace(sampleScript, "10.0.0.0/16 via", "10.0.0.0/33 via", 1), 10, "destination"},
		{"second default route", sampleScript + "ip route add default via 10.255.255.1 dev vxlan0 table 100\n", 15, "second default route"},
		{"second VXLAN id", sampleScript + "ip link add vxlan0 type vxlan id 11 dstport 4789\n", 15, "created again"},
		{"unterminated quote", sampleScript + "nft add chain ip gatestream x '{\n", 15, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(tt.script)
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("Parse error = %v, want a *LineError", err)
			}
			if le.Line != tt.line {
				t.Errorf("error on line %d, want %d (%v)", le.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.contains) || !strings.Contains(err.Error(), "line ") {
				t.Errorf("error %q does not name the line and %q", err, tt.contains)
			}
		})
	}
}

func TestParseNotARouterScript(t *testing.T) {
	tests := []struct {
		name   string
		script string
	}{
		{"empty", ""},
		{"cloud-config", "#cloud-config\npackages:\n  - tcpdump\n"},
		{"forwarding only", "#!/bin/sh\nset -eu\nsysctl -w net.ipv4.ip_forward=1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Parse(tt.script); !errors.Is(err, ErrNoRouterConfig) {
				t.Errorf("Parse error = %v, want ErrNoRouterConfig", err)
			}
		})
	}
}

func TestSubnetGateway(t *testing.T) {
	tests := []struct {
		subnet, want string
	}{
		{"10.0.1.0/24", "10.0.1.1"},
		{"10.0.1.77/24", "10.0.1.1"}, // not masked by the caller
		{"172.31.16.0/20", "172.31.16.1"},
	}
	for _, tt := range tests {
		if got := SubnetGateway(netip.MustParsePrefix(tt.subnet)); got != netip.MustParseAddr(tt.want) {
			t.Errorf("SubnetGateway(%s) = %s, want %s", tt.subnet, got, tt.want)
		}
	}
}
