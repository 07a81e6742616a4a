package target

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// ViaNapter reports whether a session connects through Napter.
func ViaNapter(ss *accessv1alpha1.StreamingSession) bool {
	return ss.Spec.Via == accessv1alpha1.ViaNapter
}

// NapterEnabled reports whether an environment allows Napter sessions.
func NapterEnabled(env *accessv1alpha1.RemoteAccessEnvironment) bool {
	return env != nil && env.Spec.Napter != nil && env.Spec.Napter.Enabled
}

// NapterUsable says why Napter cannot map port p of device d (nil: it can):
// Napter maps TCP ports, and reaches a device behind a cellular router
// (one with an address) only through the router's port forward (routerPort).
func NapterUsable(d *accessv1alpha1.Device, p *accessv1alpha1.DevicePort) error {
	if p.Protocol != "" && p.Protocol != "TCP" {
		return fmt.Errorf("port %s of device %q is %s: Napter maps TCP ports only", p.Name, d.Name, p.Protocol)
	}
	if d.Address != "" && p.RouterPort == 0 {
		return fmt.Errorf("device %q is behind a cellular router and Napter reaches only the router: its DeviceGroup names no router port forward "+
			"(ports[].routerPort) for port %s; set one (and the forward on the router), or connect via AppStream", d.Name, p.Name)
	}
	return nil
}

// Endpoint is a Napter session's endpoint as its Secret gives it.
type Endpoint struct {
	Host string
	Port int
	TLS  bool
	// ExpiresAt is when the mapping ends (nil: unknown).
	ExpiresAt *time.Time
	// PortName is the target's port name, or its number.
	PortName string
	// SSH is "ssh -p <port> <user>@<host>" for an SSH port; URL is
	// http(s)://host:port/ for a web port; both empty otherwise.
	SSH, URL string
}

// webPorts are the port names and numbers opened in a browser.
var (
	webPortNames   = []string{"http", "https", "web", "http-alt", "https-alt"}
	webPortNumbers = []int32{80, 443, 8000, 8080, 8443, 8888}
)

// NapterEndpoint reads a Napter session's endpoint from its Secret's data
// (host and port, or endpoint), with the expiry from the Secret or, failing
// that, the session's status; ok is false without a usable host and port.
func NapterEndpoint(ss *accessv1alpha1.StreamingSession, data map[string][]byte) (Endpoint, bool) {
	e := Endpoint{Host: string(data[accessv1alpha1.SecretKeyHost]), TLS: string(data[accessv1alpha1.SecretKeyTLS]) == "true"}
	if e.Host == "" && ss.Status.Napter != nil {
		e.Host = ss.Status.Napter.Hostname
	}
	portText := string(data[accessv1alpha1.SecretKeyPort])
	if h, p, err := net.SplitHostPort(string(data[accessv1alpha1.SecretKeyEndpoint])); err == nil {
		if e.Host == "" {
			e.Host = h
		}
		if portText == "" {
			portText = p
		}
	}
	var err error
	if e.Port, err = strconv.Atoi(portText); err != nil || e.Port < 1 || e.Port > 65535 || e.Host == "" {
		return e, false
	}
	if t, err := time.Parse(time.RFC3339, string(data[accessv1alpha1.SecretKeyExpiresAt])); err == nil {
		e.ExpiresAt = &t
	} else if st := ss.Status.Napter; st != nil && st.ExpiresAt != nil {
		e.ExpiresAt = &st.ExpiresAt.Time
	} else if ss.Status.AccessEndsAt != nil {
		e.ExpiresAt = &ss.Status.AccessEndsAt.Time
	}
	name, num := "", int32(0)
	if t := ss.Spec.Target; t != nil && t.Port != nil {
		if t.Port.Type == intstr.String {
			name = t.Port.StrVal
		} else {
			num = t.Port.IntVal
		}
	}
	if rt := ss.Status.Target; rt != nil && rt.Port != 0 {
		num = rt.Port
	}
	e.PortName = name
	if e.PortName == "" && num != 0 {
		e.PortName = strconv.Itoa(int(num))
	}
	switch {
	case name == "ssh" || (name == "" && num == 22):
		e.SSH = fmt.Sprintf("ssh -p %d <user>@%s", e.Port, e.Host)
	case slices.Contains(webPortNames, name) || (name == "" && slices.Contains(webPortNumbers, num)):
		scheme := "http"
		if e.TLS {
			scheme = "https"
		}
		e.URL = scheme + "://" + net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) + "/"
	}
	return e, true
}
