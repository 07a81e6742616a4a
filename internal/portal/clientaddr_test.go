package portal

import (
	"net/http"
	"strings"
	"testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

func TestClientAddr(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TrustedProxies = []string{"10.0.0.0/8", "127.0.0.1/32"}
	cfg.PublicURL, cfg.AuthMode = "https://portal.example.com", AuthProxy
	cfg.ProxyTrustedCIDRs = []string{"10.0.0.1/32"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string // "" for an error
	}{
		{"203.0.113.5:4711", nil, "203.0.113.5"},
		{"203.0.113.5:4711", []string{"198.51.100.7"}, "203.0.113.5"}, // untrusted peer: the header is ignored
		{"[::ffff:203.0.113.5]:4711", []string{"198.51.100.7"}, "203.0.113.5"},
		{"[2001:db8::1]:4711", nil, "2001:db8::1"},
		{"10.1.2.3:80", nil, "10.1.2.3"}, // a trusted proxy without a header: itself
		{"10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"10.1.2.3:80", []string{"192.0.2.9, 198.51.100.7"}, "198.51.100.7"},             // right-most untrusted, never the spoofable left
		{"10.1.2.3:80", []string{"192.0.2.9", "198.51.100.7, 10.9.9.9"}, "198.51.100.7"}, // several header lines, trusted hops skipped
		{"10.1.2.3:80", []string{"198.51.100.7:5555"}, "198.51.100.7"},
		{"10.1.2.3:80", []string{"[2001:db8::5]"}, "2001:db8::5"},
		{"10.1.2.3:80", []string{"10.2.2.2, 127.0.0.1"}, "10.2.2.2"}, // all trusted: the left-most
		{"10.1.2.3:80", []string{"198.51.100.7, unknown"}, ""},       // garbage from a trusted hop: no guess
		{"not-an-address", nil, ""},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		got, err := clientAddr(&cfg, r)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s %q: %s, want an error", tc.remote, tc.xff, got)
		case tc.want != "" && (err != nil || got.String() != tc.want):
			t.Errorf("%s %q: %s, %v; want %s", tc.remote, tc.xff, got, err, tc.want)
		}
	}
}

func TestTrustedProxiesValidate(t *testing.T) {
	for _, bad := range []string{"0.0.0.0/0", "::/0", "10.0.0.1"} {
		cfg := DefaultConfig()
		cfg.PublicURL, cfg.AuthMode = "https://portal.example.com", AuthProxy
		cfg.ProxyTrustedCIDRs = []string{"10.0.0.1/32"}
		cfg.TrustedProxies = []string{bad}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--trusted-proxies") {
			t.Errorf("--trusted-proxies %s: %v", bad, err)
		}
	}
}

func TestNapterSourceRange(t *testing.T) {
	s := &Server{cfg: DefaultConfig()}
	env := &accessv1alpha1.RemoteAccessEnvironment{}
	env.Name = "site"
	env.Spec.Napter = &accessv1alpha1.NapterSpec{Enabled: true}
	req := func(remote string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "/connect", nil)
		r.RemoteAddr = remote
		return r
	}
	if sr, ev, _ := s.napterSourceRange(req("198.51.100.7:1234"), env); ev != nil || sr != "198.51.100.7/32" {
		t.Errorf("IPv4: %q %+v", sr, ev)
	}
	if _, ev, status := s.napterSourceRange(req("[2001:db8::7]:1234"), env); ev == nil || status != http.StatusBadRequest || !strings.Contains(ev.Heading, "Napter needs an IPv4 address") {
		t.Errorf("IPv6: %+v %d", ev, status)
	}
	env.Spec.Napter.AllowedSourceRanges = []string{"203.0.113.0/24"}
	if _, ev, status := s.napterSourceRange(req("198.51.100.7:1234"), env); ev == nil || status != http.StatusForbidden || !strings.Contains(ev.Message, "203.0.113.0/24") {
		t.Errorf("outside the allowed ranges: %+v %d", ev, status)
	}
	if sr, ev, _ := s.napterSourceRange(req("203.0.113.80:1234"), env); ev != nil || sr != "203.0.113.80/32" {
		t.Errorf("inside the allowed ranges: %q %+v", sr, ev)
	}
}

func TestNapterPorts(t *testing.T) {
	own := &accessv1alpha1.Device{Name: "pi", Ports: []accessv1alpha1.DevicePort{{Name: "ssh", Port: 22}, {Name: "snmp", Port: 161, Protocol: "UDP"}}}
	if p, why, _ := napterPorts(own); len(p) != 1 || p[0].Name != "ssh" || why != "" {
		t.Errorf("own host: %v %q", p, why)
	}
	routed := &accessv1alpha1.Device{Name: "plc", Address: "192.168.1.2", Ports: []accessv1alpha1.DevicePort{{Name: "http", Port: 80, RouterPort: 8080}, {Name: "modbus", Port: 502}}}
	if p, why, note := napterPorts(routed); len(p) != 1 || p[0].Name != "http" || why != "" || !strings.Contains(note, "modbus") {
		t.Errorf("behind a router: %v %q %q", p, why, note)
	}
	none := &accessv1alpha1.Device{Name: "cam", Address: "192.168.1.3", Ports: []accessv1alpha1.DevicePort{{Name: "http", Port: 80}}}
	if p, why, _ := napterPorts(none); len(p) != 0 || !strings.Contains(why, "routerPort") {
		t.Errorf("no forward: %v %q", p, why)
	}
}
