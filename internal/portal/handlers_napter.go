package portal

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/session/target"
)

// Napter: the second way in. Instead of a streaming URL, the session gets a
// SORACOM Napter port mapping, open only to the person's own address (/32),
// straight to one TCP port of the device. The portal shows the endpoint; the
// person connects with their own ssh client or browser.

// napterMaxWindow is the longest access window of a Napter session (SORACOM
// ends a mapping after 8 hours; the API refuses longer windows).
const napterMaxWindow = 8 * time.Hour

// viaNapter is the connect form's value of "via" for Napter.
const viaNapter = "napter"

// napterOption is the device list's "Connect via Napter" of one device.
type napterOption struct {
	OK    bool
	Why   string
	Note  string
	Ports []accessv1alpha1.DevicePort
}

// napterPorts are the device's ports a Napter mapping can lead to: TCP ports,
// and for a device behind a cellular router only those the router forwards
// (routerPort). why says why there are none; note names the ports left out.
func napterPorts(d *accessv1alpha1.Device) (ports []accessv1alpha1.DevicePort, why, note string) {
	var noForward []string
	for _, p := range d.Ports {
		switch {
		case p.Protocol != "" && p.Protocol != "TCP":
		case target.NapterUsable(d, &p) != nil:
			noForward = append(noForward, p.Name) // a TCP port behind the router without a forward
		default:
			ports = append(ports, p)
		}
	}
	switch {
	case len(ports) > 0 && len(noForward) > 0:
		note = "Not via Napter: " + strings.Join(noForward, ", ") + " (the cellular router has no port forward to it)."
	case len(noForward) > 0:
		why = "Napter reaches only the cellular router this device is behind, and its DeviceGroup names no router port forward (routerPort) for any of its ports."
	case len(ports) == 0:
		why = "Napter maps one TCP port, and this device lists none."
	}
	return ports, why, note
}

// napterOptionFor is the device's Napter option (nil: the environment does
// not allow Napter, so none is shown).
func napterOptionFor(env *accessv1alpha1.RemoteAccessEnvironment, d *accessv1alpha1.Device, online bool) *napterOption {
	if !target.NapterEnabled(env) {
		return nil
	}
	ports, why, note := napterPorts(d)
	o := &napterOption{Ports: ports, Why: why, Note: note}
	switch {
	case why != "":
	case !online:
		o.Why = "Offline: the device's SIM has no data session right now."
	default:
		o.OK = true
	}
	return o
}

// napterSourceRange is the person's /32 for spec.napter.sourceRanges, or a
// page that says why there is none.
func (s *Server) napterSourceRange(r *http.Request, env *accessv1alpha1.RemoteAccessEnvironment) (string, *errorView, int) {
	addr, err := clientAddr(&s.cfg, r)
	if err != nil {
		return "", &errorView{
			Heading: "Cannot tell your address",
			Message: "A Napter endpoint is opened only to your own internet address, and the portal could not tell what it is.",
			Detail:  err.Error(),
			Hint:    "Connect via AppStream instead, or tell your platform team (the portal's trustedProxies setting).",
		}, http.StatusBadRequest
	}
	if !addr.Is4() {
		return "", &errorView{
			Heading: "Napter needs an IPv4 address",
			Message: fmt.Sprintf("Napter needs an IPv4 address to open the endpoint to, and you reach the portal from the IPv6 address %s.", addr),
			Hint:    "Connect over IPv4 (another network, or with IPv6 turned off), or connect via AppStream.",
		}, http.StatusBadRequest
	}
	sr := netip.PrefixFrom(addr, 32).String()
	if allowed := env.Spec.Napter.AllowedSourceRanges; len(allowed) > 0 {
		if _, out := target.RangeOutside([]string{sr}, allowed); !out {
			return sr, nil, 0
		}
		return "", &errorView{
			Heading: "Your address is not allowed for Napter",
			Message: fmt.Sprintf("The environment %s opens Napter endpoints only to %s, and you connect from %s.", env.Name, strings.Join(allowed, ", "), addr),
			Hint:    "Connect from an allowed network (such as the office or its VPN), or connect via AppStream.",
		}, http.StatusForbidden
	}
	return sr, nil, 0
}

// napterWindow is the access window of a Napter session: the portal's, at most 8 h.
func (s *Server) napterWindow() time.Duration {
	return min(s.cfg.AccessWindow, napterMaxWindow)
}

// ---- the endpoint page ----

type endpointView struct {
	Device, Group, Namespace, Name, PortName string
	Host, Port, Endpoint                     string
	TLS                                      bool
	ExpiresAt, ExpiresIn                     string
	SSH, OpenURL                             string
	SourceRanges                             []string
	PrivateSource                            bool
}

// endpointHost is a hostname or an IP address, nothing else.
var endpointHost = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

// napterEndpoint renders a Ready Napter session's endpoint from its Secret.
func (s *Server) napterEndpoint(w http.ResponseWriter, r *http.Request, ps *portalSession, ss *accessv1alpha1.StreamingSession) {
	sec, ev, status := s.sessionSecret(r.Context(), ps.identity(), ss, "endpoint")
	if sec == nil {
		s.fail(w, r, ps, status, ev)
		return
	}
	v, ok := endpointOf(ss, sec.Data, time.Now())
	if !ok {
		s.fail(w, r, ps, http.StatusBadGateway, errorView{Heading: "Cannot show your endpoint", Message: "The session's Secret does not hold a usable Napter endpoint."})
		return
	}
	s.finish(ss, resultOK)
	s.render(w, http.StatusOK, "endpoint", ps, pageData{Title: "Napter endpoint", Nav: "sessions", Data: v})
}

// endpointOf reads the endpoint from a Napter session's Secret data.
func endpointOf(ss *accessv1alpha1.StreamingSession, data map[string][]byte, now time.Time) (endpointView, bool) {
	g, d := deviceOf(ss)
	v := endpointView{Device: d, Group: g, Namespace: ss.Namespace, Name: ss.Name}
	e, ok := target.NapterEndpoint(ss, data)
	if !ok || !endpointHost.MatchString(e.Host) {
		return v, false
	}
	v.Host, v.Port, v.TLS, v.PortName, v.SSH, v.OpenURL = e.Host, strconv.Itoa(e.Port), e.TLS, e.PortName, e.SSH, e.URL
	v.Endpoint = string(data[accessv1alpha1.SecretKeyEndpoint])
	if v.Endpoint == "" {
		v.Endpoint = net.JoinHostPort(v.Host, v.Port)
	}
	if e.ExpiresAt != nil {
		v.ExpiresAt = e.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
		v.ExpiresIn = humanDuration(e.ExpiresAt.Sub(now))
	}
	if ss.Spec.Napter != nil {
		v.SourceRanges = ss.Spec.Napter.SourceRanges
		for _, c := range v.SourceRanges {
			if p, err := netip.ParsePrefix(c); err == nil && p.Addr().IsPrivate() {
				v.PrivateSource = true
			}
		}
	}
	return v, true
}

// wayIn describes how a session reaches its device, for the pages.
func wayIn(ss *accessv1alpha1.StreamingSession) string {
	if ss.Spec.Via == accessv1alpha1.ViaNapter {
		w := "Napter"
		if t := ss.Spec.Target; t != nil && t.Port != nil {
			w += " · port " + t.Port.String()
		}
		return w
	}
	return "AppStream · " + ss.Spec.Application
}

// connectNapter is POST /connect with via=napter, once the person's right to
// create sessions, the device and its environment are known: it creates a
// session with via Napter, open to the person's own address only.
func (s *Server) connectNapter(w http.ResponseWriter, r *http.Request, ps *portalSession, clicked time.Time, a auditRec, refuse func(string, int, errorView),
	g *accessv1alpha1.DeviceGroup, dev *accessv1alpha1.Device, env *accessv1alpha1.RemoteAccessEnvironment, port string) {
	id := ps.identity()
	if !target.NapterEnabled(env) {
		refuse(resultInvalid, http.StatusBadRequest, errorView{
			Heading: "Napter is not enabled",
			Message: fmt.Sprintf("The environment %s that serves %s does not allow Napter sessions.", env.Name, dev.Name),
			Hint:    "Connect via AppStream, or ask your platform team to enable Napter (spec.napter.enabled).",
		})
		return
	}
	ports, why, _ := napterPorts(dev)
	i := slices.IndexFunc(dev.Ports, func(p accessv1alpha1.DevicePort) bool { return p.Name == port })
	switch {
	case i < 0:
		refuse(resultInvalid, http.StatusBadRequest, errorView{Heading: "Unknown port", Message: fmt.Sprintf("%s has no port %q.", dev.Name, port)})
		return
	case !slices.ContainsFunc(ports, func(p accessv1alpha1.DevicePort) bool { return p.Name == port }):
		if why == "" {
			why = fmt.Sprintf("Napter cannot reach port %s of %s: it is not a TCP port, or the cellular router the device is behind has no port forward to it (routerPort).", port, dev.Name)
		}
		refuse(resultInvalid, http.StatusBadRequest, errorView{Heading: "Not reachable via Napter", Message: why, Hint: "Connect via AppStream instead."})
		return
	}
	if !deviceOnline(g, dev.Name) {
		refuse(resultUnavailable, http.StatusConflict, errorView{
			Heading: "Device offline",
			Message: fmt.Sprintf("%s is offline: its SIM has no data session, so it cannot be reached now.", dev.Name),
			Hint:    "Check that the device is powered and has coverage, then try again.",
		})
		return
	}
	sr, ev, status := s.napterSourceRange(r, env)
	if ev != nil {
		refuse(resultInvalid, status, *ev)
		return
	}
	a.SourceRange = sr
	p := intstr.FromString(port)
	ss := &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: g.Namespace, GenerateName: target.GenerateName(id.User, dev.Name),
			Labels: map[string]string{LabelCreatedBy: CreatedByValue},
		},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: env.Name},
			UserID:         id.User,
			Via:            accessv1alpha1.ViaNapter,
			Napter:         &accessv1alpha1.NapterAccess{SourceRanges: []string{sr}, TLS: port == "https"},
			Target:         &accessv1alpha1.SessionTarget{DeviceGroup: g.Name, Device: dev.Name, Port: &p},
			URLValidity:    metav1.Duration{Duration: s.cfg.URLValidity},
			AccessWindow:   metav1.Duration{Duration: s.napterWindow()},
		},
	}
	if s.cfg.TTLAfterFinished > 0 {
		ss.Spec.TTLAfterFinished = &metav1.Duration{Duration: s.cfg.TTLAfterFinished}
	}
	s.createSession(w, r, ps, clicked, a, refuse, ss)
}

// napterEnds is when a Napter session's endpoint closes.
func napterEnds(ss *accessv1alpha1.StreamingSession) *metav1.Time {
	if st := ss.Status.Napter; st != nil && st.ExpiresAt != nil {
		if e := ss.Status.AccessEndsAt; e != nil && e.Before(st.ExpiresAt) {
			return e
		}
		return st.ExpiresAt
	}
	return ss.Status.AccessEndsAt
}
