package emulator

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/reach"
	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

// Real Napter endpoints (Options.NapterListen): each port mapping gets a TCP
// listener on 127.0.0.1, the emulator's stand-in for Napter's global
// address. A connection to it is decided by the packet walker
// (ReachNapter) from the connection's own address: when the walk reaches a
// device, an HTTP client gets a page naming it and any other client a
// one-line banner; otherwise an HTTP client gets 403 with the broken hop,
// and any other client a closed connection.

const (
	// napterSniff is how long a new connection is given to speak first
	// before it is taken for a client that waits for the server (ssh, nc).
	// GUESS: long enough for a local client, short enough for a person.
	napterSniff = 500 * time.Millisecond
	// napterConnTimeout bounds a connection's whole life (TLS handshake and
	// HTTP request included).
	napterConnTimeout = 30 * time.Second
)

// napterEndpoints are the real endpoints of a Cloud's Napter entries.
type napterEndpoints struct {
	c *Cloud
	// cert serves tlsRequired entries: self-signed for localhost and
	// 127.0.0.1, made at Start (clients must skip verification or trust it).
	cert tls.Certificate

	mu     sync.Mutex
	closed bool
	open   map[*napterListener]struct{}
	wg     sync.WaitGroup // accept loops and connections
}

type napterListener struct {
	e    *napterEndpoints
	ln   net.Listener
	port int
	tls  *tls.Config // tlsRequired entries only

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func newNapterEndpoints(c *Cloud) (*napterEndpoints, error) {
	cert, err := selfSignedCert()
	if err != nil {
		return nil, fmt.Errorf("emulator: Napter TLS certificate: %w", err)
	}
	return &napterEndpoints{c: c, cert: cert, open: map[*napterListener]struct{}{}}, nil
}

// selfSignedCert makes an ECDSA P-256 certificate for localhost and
// 127.0.0.1, valid (on the real clock, which TLS clients check) for a year.
func selfSignedCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"gatestream emulator (Napter)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// listen is the SORACOM emulator's NapterListener: a listener on
// 127.0.0.1 with a kernel-chosen port, TLS for tlsRequired entries.
func (e *napterEndpoints) listen(m soracom.PortMapping) (string, func(), error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", nil, errors.New("the emulator is closed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	l := &napterListener{e: e, ln: ln, port: ln.Addr().(*net.TCPAddr).Port, conns: map[net.Conn]struct{}{}}
	if m.TLSRequired {
		l.tls = &tls.Config{Certificates: []tls.Certificate{e.cert}, MinVersion: tls.VersionTLS12}
	}
	e.open[l] = struct{}{}
	e.wg.Add(1)
	go l.serve()
	return ln.Addr().String(), l.close, nil
}

// close closes every endpoint and waits for their connections to end.
func (e *napterEndpoints) close() {
	e.mu.Lock()
	e.closed = true
	open := make([]*napterListener, 0, len(e.open))
	for l := range e.open {
		open = append(open, l)
	}
	e.mu.Unlock()
	for _, l := range open {
		l.close()
	}
	e.wg.Wait()
}

// close closes the listener and its connections (the TCP ones under any
// TLS, so that no close_notify is written); it does not block.
func (l *napterListener) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	_ = l.ln.Close()
	for c := range l.conns {
		_ = c.Close()
	}
	clear(l.conns)
	l.mu.Unlock()
	l.e.mu.Lock()
	delete(l.e.open, l)
	l.e.mu.Unlock()
}

func (l *napterListener) serve() {
	defer l.e.wg.Done()
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.close() // closed, or broken: the endpoint is gone either way
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = conn.Close()
			return
		}
		l.conns[conn] = struct{}{}
		l.e.wg.Add(1) // the accept loop's own count keeps the group above zero
		l.mu.Unlock()
		go func() {
			defer l.e.wg.Done()
			defer func() {
				l.mu.Lock()
				delete(l.conns, conn)
				l.mu.Unlock()
				_ = conn.Close() // after the handler has closed the TLS conn, if any
			}()
			if l.tls != nil {
				l.handle(tls.Server(conn, l.tls))
			} else {
				l.handle(conn)
			}
		}()
	}
}

// handle decides one connection with the walker and answers it.
func (l *napterListener) handle(conn net.Conn) {
	defer conn.Close()
	start := time.Now()
	_ = conn.SetDeadline(start.Add(napterConnTimeout))
	if tc, ok := conn.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			return
		}
	}
	// Let the client speak first, to tell HTTP from anything else.
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(napterSniff))
	_, err := br.Peek(1)
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return // gone before saying anything
	}
	_ = conn.SetReadDeadline(start.Add(napterConnTimeout))
	isHTTP := err == nil && looksLikeHTTP(br)

	client := netip.Addr{}
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		client = ta.AddrPort().Addr().Unmap()
	}
	res, t := l.e.c.reachNapter(client, "127.0.0.1", l.port)
	if !res.Reachable && res.Broken != nil && res.Broken.Kind == reach.KindNapterMapping {
		// Deleted or expired (the walk has already had SORACOM close the
		// endpoint, lazily): there is no endpoint to answer.
		l.close()
		return
	}
	if isHTTP {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_ = req.Body.Close()
		writeNapterPage(conn, req, res, t)
		return
	}
	if !res.Reachable {
		return // a refused source gets no answer
	}
	banner := fmt.Sprintf("connected to %s:%d\r\n", t.Device, t.Port)
	if t.Port == 22 {
		banner = fmt.Sprintf("SSH-2.0-gatestream-emulator %s\r\n", t.Device)
	}
	_, _ = io.WriteString(conn, banner)
}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"}

// looksLikeHTTP reports whether the buffered bytes begin an HTTP request line.
func looksLikeHTTP(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	for _, m := range httpMethods {
		if bytes.HasPrefix(b, []byte(m+" /")) || bytes.HasPrefix(b, []byte(m+" http")) || bytes.HasPrefix(b, []byte(m+" *")) {
			return true
		}
	}
	return false
}

var napterPage = template.Must(template.New("napter").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
{{- if .Reachable}}
<title>Connected through Napter to {{.Device}} port {{.Port}} (SIM {{.SIM}})</title></head>
<body>
<h1>Connected through Napter to <span id="napter-device">{{.Device}}</span> port <span id="napter-port">{{.Port}}</span> (SIM <span id="napter-sim">{{.SIM}}</span>)</h1>
{{- else}}
<title>Napter: connection refused</title></head>
<body>
<h1>Napter refused the connection</h1>
<p id="napter-refused" data-kind="{{.Kind}}">{{.Reason}}</p>
{{- end}}
<p>Path: <span id="napter-path">{{.Path}}</span></p>
{{- range .Notes}}
<p class="napter-note">{{.}}</p>
{{- end}}
<p><small>gatestream cloud emulator: 127.0.0.1 stands in for Napter's global address.</small></p>
</body></html>
`))

func writeNapterPage(w io.Writer, req *http.Request, res reach.Result, t napterTarget) {
	data := map[string]any{
		"Reachable": res.Reachable, "Device": t.Device, "Port": t.Port, "SIM": t.SimID,
		"Path": strings.Join(res.Hops, " → "), "Notes": res.Notes,
	}
	code := http.StatusOK
	if !res.Reachable {
		code = http.StatusForbidden
		data["Kind"], data["Reason"] = "", "unreachable"
		if res.Broken != nil {
			data["Kind"], data["Reason"] = res.Broken.Kind, res.Broken.Reason
		}
	}
	var body bytes.Buffer
	if err := napterPage.Execute(&body, data); err != nil {
		code = http.StatusInternalServerError
		body.Reset()
		body.WriteString(err.Error())
	}
	h := http.Header{}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Napter-Reachable", strconv.FormatBool(res.Reachable))
	resp := &http.Response{
		StatusCode: code, ProtoMajor: 1, ProtoMinor: 1, Header: h, Request: req, Close: true,
		ContentLength: int64(body.Len()), Body: io.NopCloser(&body),
	}
	_ = resp.Write(w)
}
