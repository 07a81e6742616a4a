package emulator

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/reach"
	"github.com/gatestream/gatestream/internal/soracom"
)

// The real Napter endpoints (Options.NapterListen).

const napterPLCRouterPort = 8080 // the router's forward to the PLC's web UI

func newNapterListenEnv(t *testing.T) *napterEnv {
	t.Helper()
	e := newNapterEnvWith(t, Options{NapterListen: true})
	if err := e.c.AddPortForward(napterRouterSIM, napterPLCRouterPort, napterPLC, 80); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *napterEnv) createReq(t *testing.T, simID string, req soracom.PortMappingRequest) *soracom.PortMapping {
	t.Helper()
	m, err := e.sor.CreatePortMappingForSIM(e.ctx, simID, req)
	if err != nil {
		t.Fatal(err)
	}
	if m.IPAddress != "127.0.0.1" || m.Hostname != "localhost" || m.Endpoint != "127.0.0.1:"+strconv.Itoa(m.Port) || m.Port == 0 {
		t.Fatalf("mapping %+v: want 127.0.0.1:<port>, hostname localhost", m)
	}
	return m
}

var loopbackOnly = []string{"127.0.0.1/32"}

// rawConnect dials the endpoint (TLS when cfg is set), speaks first like an
// ssh client and returns what the endpoint answers before it closes.
func rawConnect(t *testing.T, endpoint string, cfg *tls.Config) (string, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if cfg != nil {
		conn, err = tls.DialWithDialer(d, "tcp", endpoint, cfg)
	} else {
		conn, err = d.Dial("tcp", endpoint)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", endpoint, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "SSH-2.0-OpenSSH_9.6 test\r\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	return string(b), err
}

func wantRefusedDial(t *testing.T, endpoint string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", endpoint, 10*time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("%s accepts connections", endpoint)
	}
	t.Logf("dial %s: %v", endpoint, err)
}

func httpGet(t *testing.T, url string, cfg *tls.Config) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: cfg}}
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

func TestNapterListenSSHBanner(t *testing.T) {
	e := newNapterListenEnv(t)
	m := e.createReq(t, napterPiSIM, soracom.PortMappingRequest{Port: 22, Service: soracom.NapterServiceAir, Duration: time.Hour, SourceRanges: loopbackOnly})
	got, err := rawConnect(t, m.Endpoint, nil)
	if err != nil || got != "SSH-2.0-gatestream-emulator raspi\r\n" {
		t.Fatalf("banner %q, %v", got, err)
	}
	// Without source ranges the entry admits its creator (127.0.0.1/32).
	m2 := e.createReq(t, napterPiSIM, soracom.PortMappingRequest{Port: 22, Duration: time.Hour})
	if got, err := rawConnect(t, m2.Endpoint, nil); err != nil || !strings.HasPrefix(got, "SSH-2.0-gatestream-emulator raspi") {
		t.Fatalf("banner %q, %v", got, err)
	}
	// The walker sees the real endpoint too.
	wantReachable(t, e.c.ReachNapter(netip.MustParseAddr("127.0.0.1"), "localhost", m.Port))
}

func TestNapterListenHTTPPage(t *testing.T) {
	e := newNapterListenEnv(t)
	m := e.createReq(t, napterRouterSIM, soracom.PortMappingRequest{Port: napterPLCRouterPort, Duration: time.Hour, SourceRanges: loopbackOnly})
	code, body := httpGet(t, "http://"+m.Endpoint+"/", nil)
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, body)
	}
	wantContains(t, "page", body,
		"Connected through Napter to plc port 80 (SIM "+napterRouterSIM+")",
		`id="napter-device">plc<`,
		`id="napter-path">client 127.0.0.1 → napter `+m.Endpoint,
		"router port forward 8080 → "+napterPLC+":80")
	// A raw client gets a line naming the device.
	if got, err := rawConnect(t, m.Endpoint, nil); err != nil || got != "connected to plc:80\r\n" {
		t.Fatalf("banner %q, %v", got, err)
	}
}

func TestNapterListenSourceRefused(t *testing.T) {
	e := newNapterListenEnv(t)
	m := e.createReq(t, napterRouterSIM, soracom.PortMappingRequest{Port: napterPLCRouterPort, Duration: time.Hour, SourceRanges: []string{"198.51.100.0/24"}})
	code, body := httpGet(t, "http://"+m.Endpoint+"/", nil)
	if code != http.StatusForbidden {
		t.Fatalf("status %d:\n%s", code, body)
	}
	wantContains(t, "page", body, `id="napter-refused"`, `data-kind="`+reach.KindNapterSource+`"`,
		"client 127.0.0.1 is not in the source ranges 198.51.100.0/24")
	if strings.Contains(body, "napter-device") {
		t.Errorf("refused page names a device:\n%s", body)
	}
	got, err := rawConnect(t, m.Endpoint, nil)
	if got != "" {
		t.Fatalf("refused raw client got %q", got)
	}
	t.Logf("raw client: %q, %v", got, err) // closed: EOF (err nil) or a reset
}

func TestNapterListenDeleteCloses(t *testing.T) {
	e := newNapterListenEnv(t)
	m := e.createReq(t, napterPiSIM, soracom.PortMappingRequest{Port: 22, Duration: time.Hour, SourceRanges: loopbackOnly})
	if _, err := rawConnect(t, m.Endpoint, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.sor.DeletePortMapping(e.ctx, m.IPAddress, m.Port); err != nil {
		t.Fatal(err)
	}
	wantRefusedDial(t, m.Endpoint)
}

func TestNapterListenExpiryCloses(t *testing.T) {
	e := newNapterListenEnv(t)
	req := soracom.PortMappingRequest{Port: 22, Duration: 15 * time.Minute, SourceRanges: loopbackOnly}
	observed := e.createReq(t, napterPiSIM, req)
	accepted := e.createReq(t, napterPiSIM, req)
	e.clk.Step(14 * time.Minute)
	for _, m := range []*soracom.PortMapping{observed, accepted} {
		if got, err := rawConnect(t, m.Endpoint, nil); err != nil || !strings.HasPrefix(got, "SSH-2.0-") {
			t.Fatalf("before expiry: %q, %v", got, err)
		}
	}
	e.clk.Step(time.Minute)

	// The next connection observes the expiry: it is closed unanswered, and so is the endpoint.
	got, err := rawConnect(t, accepted.Endpoint, nil)
	if got != "" {
		t.Fatalf("expired endpoint answered %q (%v)", got, err)
	}
	wantRefusedDial(t, accepted.Endpoint)

	// Any call observes it too (here the SORACOM API's create).
	observed2 := e.createReq(t, napterPiSIM, req)
	wantRefusedDial(t, observed.Endpoint)
	if got, err := rawConnect(t, observed2.Endpoint, nil); err != nil || !strings.HasPrefix(got, "SSH-2.0-") {
		t.Fatalf("new entry: %q, %v", got, err)
	}
	if ms := e.c.Soracom.PortMappings(); len(ms) != 3 || !ms[0].Expired || !ms[1].Expired || ms[2].Expired {
		t.Errorf("entries %+v", ms)
	}
}

func TestNapterListenTLS(t *testing.T) {
	e := newNapterListenEnv(t)
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
	ssh := e.createReq(t, napterPiSIM, soracom.PortMappingRequest{Port: 22, Duration: time.Hour, SourceRanges: loopbackOnly, TLSRequired: true})
	if got, err := rawConnect(t, ssh.Endpoint, cfg); err != nil || got != "SSH-2.0-gatestream-emulator raspi\r\n" {
		t.Fatalf("banner over TLS %q, %v", got, err)
	}
	web := e.createReq(t, napterRouterSIM, soracom.PortMappingRequest{Port: napterPLCRouterPort, Duration: time.Hour, SourceRanges: loopbackOnly, TLSRequired: true})
	code, body := httpGet(t, "https://"+web.Endpoint+"/", cfg)
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, body)
	}
	wantContains(t, "page", body, `id="napter-device">plc<`, "tlsRequired")

	// The certificate is the emulator's, for localhost.
	conn, err := tls.Dial("tcp", web.Endpoint, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	// Plain TCP to a TLS endpoint gets no banner.
	if got, _ := rawConnect(t, ssh.Endpoint, nil); strings.Contains(got, "SSH-2.0-gatestream") {
		t.Errorf("plain client on a TLS endpoint got %q", got)
	}
}

func TestNapterListenClosedWithCloud(t *testing.T) {
	e := newNapterListenEnv(t)
	m := e.createReq(t, napterPiSIM, soracom.PortMappingRequest{Port: 22, Duration: time.Hour, SourceRanges: loopbackOnly})
	// A connection that has not spoken yet does not hold Close up.
	idle, err := net.Dial("tcp", m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
	wantRefusedDial(t, m.Endpoint)
	// Closed by Close (after the banner if the sniff ended first), not left open.
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(idle)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("idle connection left open after Close (read %q)", b)
	}
}

// TestNapterListenOff: without NapterListen, entries keep documentation addresses.
func TestNapterListenOff(t *testing.T) {
	e := newNapterEnv(t)
	m := e.create(t, napterPiSIM, 22, time.Hour)
	if !strings.HasPrefix(m.IPAddress, "203.0.113.") || m.Port < 40000 || !strings.HasSuffix(m.Hostname, ".napter.soracom.io") {
		t.Fatalf("mapping %+v", m)
	}
}

// TestSeedDemoNapter: the demo world's devices are reachable through Napter
// (raspi-1 on its SIM; plc-7 through the router's forwards).
func TestSeedDemoNapter(t *testing.T) {
	e := newNapterEnvWith(t, Options{NapterListen: true})
	if _, err := e.c.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	sor, err := soracom.New(soracom.Options{
		Endpoint:    e.c.SoracomURL,
		Credentials: soracom.Credentials{AuthKeyID: DemoSoracomAuthKeyID, AuthKey: DemoSoracomAuthKey},
		Now:         e.clk.Now, MaxRetries: -1, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.sor = sor
	for _, c := range []struct {
		sim    string
		port   int
		banner string
	}{
		{DemoSIMRaspberryPi, 22, "SSH-2.0-gatestream-emulator raspi-1\r\n"},
		{DemoSIMRaspberryPi, 80, "connected to raspi-1:80\r\n"},
		{DemoSIMRouter, DemoRouterPortSSH, "SSH-2.0-gatestream-emulator plc-7\r\n"},
		{DemoSIMRouter, DemoRouterPortHTTP, "connected to plc-7:80\r\n"},
	} {
		m := e.createReq(t, c.sim, soracom.PortMappingRequest{Port: c.port, Duration: time.Hour})
		if got, err := rawConnect(t, m.Endpoint, nil); err != nil || got != c.banner {
			t.Errorf("SIM %s port %d: %q, %v; want %q", c.sim, c.port, got, err, c.banner)
		}
	}
	// The router's own port 22 is not forwarded.
	m := e.createReq(t, DemoSIMRouter, soracom.PortMappingRequest{Port: 22, Duration: time.Hour})
	wantBroken(t, e.c.ReachNapter(netip.MustParseAddr("127.0.0.1"), m.IPAddress, m.Port), reach.KindNapterPortForward, "no port forward for port 22 (forwards: 8022, 8080)")
}
