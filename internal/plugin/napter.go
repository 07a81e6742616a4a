package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/session/target"
)

// NapterMaxWindow is the longest access window of a Napter session: SORACOM
// ends a port mapping after 8 hours.
const NapterMaxWindow = 8 * time.Hour

// parseVia reports whether via names Napter ("" and AppStream do not).
func parseVia(via string) (bool, error) {
	switch strings.ToLower(via) {
	case "", "appstream":
		return false, nil
	case "napter":
		return true, nil
	}
	return false, fmt.Errorf("--via %q: connect via appstream (a streaming URL, the default) or napter (a SORACOM Napter endpoint straight to the device's port)", via)
}

// checkSourceRanges checks --source-range: one or more IPv4 CIDRs in
// network form. gatestream never guesses the user's public address.
func checkSourceRanges(ranges []string) error {
	if len(ranges) == 0 {
		return errors.New("--via napter needs --source-range CIDR: the IPv4 address (or network) you will connect from, " +
			"such as 203.0.113.7/32 for your own public address; only it can reach the endpoint. " +
			"kubectl gatestream does not guess your public address (ask your network team, or use the portal, which sees it)")
	}
	if len(ranges) > 10 {
		return fmt.Errorf("--source-range given %d times; a Napter session takes at most 10", len(ranges))
	}
	for _, r := range ranges {
		p, err := netip.ParsePrefix(r)
		switch {
		case err != nil:
			if a, aerr := netip.ParseAddr(r); aerr == nil && a.Is4() {
				return fmt.Errorf("--source-range %q is an address, not a CIDR: write %s/32", r, a)
			}
			return fmt.Errorf("--source-range %q is not a CIDR such as 203.0.113.7/32", r)
		case !p.Addr().Is4():
			return fmt.Errorf("--source-range %q: Napter takes IPv4 source ranges only", r)
		case p.Masked() != p:
			return fmt.Errorf("--source-range %q has host bits set: write the network, %s", r, p.Masked())
		}
	}
	return nil
}

// napterPort picks the device's port for a Napter session: the named one,
// else the first TCP port Napter can reach (for a device behind a cellular
// router, one with a routerPort).
func napterPort(d *accessv1alpha1.Device, name string) (*accessv1alpha1.DevicePort, error) {
	usable := func(p *accessv1alpha1.DevicePort) error { return target.NapterUsable(d, p) }
	if name != "" {
		for i := range d.Ports {
			if p := &d.Ports[i]; p.Name == name {
				return p, usable(p)
			}
		}
		return nil, fmt.Errorf("device %q has no port %q; its ports: %s", d.Name, name, portNames(d.Ports))
	}
	var first error
	for i := range d.Ports {
		p := &d.Ports[i]
		err := usable(p)
		if err == nil {
			return p, nil
		}
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return nil, fmt.Errorf("device %q lists no ports: a Napter session maps one TCP port of the device", d.Name)
}

func portNames(ports []accessv1alpha1.DevicePort) string {
	if len(ports) == 0 {
		return "none"
	}
	names := make([]string, 0, len(ports))
	for _, p := range ports {
		names = append(names, fmt.Sprintf("%s (%d)", p.Name, p.Port))
	}
	return strings.Join(names, ", ")
}

// connectNapter creates a Napter session and prints its endpoint once Ready.
func (a *App) connectNapter(ctx context.Context, o ConnectOptions, group *accessv1alpha1.DeviceGroup, device *accessv1alpha1.Device, env *accessv1alpha1.RemoteAccessEnvironment) error {
	if env.DeletionTimestamp != nil {
		return fmt.Errorf("environment %q is being deleted", env.Name)
	}
	if !target.NapterEnabled(env) {
		return fmt.Errorf("environment %q does not allow Napter sessions (spec.napter.enabled is not true): connect via AppStream, or ask its owners to enable Napter", env.Name)
	}
	if allowed := env.Spec.Napter.AllowedSourceRanges; len(allowed) > 0 {
		if r, out := target.RangeOutside(o.SourceRanges, allowed); out {
			return fmt.Errorf("--source-range %s is outside environment %q's spec.napter.allowedSourceRanges (%s)", r, env.Name, strings.Join(allowed, ", "))
		}
	}
	port, err := napterPort(device, o.Port)
	if err != nil {
		return err
	}
	user, err := a.sessionUser(ctx, o.User)
	if err != nil {
		return err
	}
	if st := deviceStatus(group, device.Name); st != nil && !st.Online {
		fmt.Fprintf(a.Err, "warning: device %s is offline (its SIM has no session); the endpoint comes once it is online\n", device.Name)
	}
	p := intstr.FromString(port.Name)
	ss := &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    a.Namespace,
			GenerateName: target.GenerateName(user, device.Name),
			Labels:       map[string]string{"app.kubernetes.io/created-by": "kubectl-gatestream"},
		},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: env.Name},
			UserID:         user,
			Via:            accessv1alpha1.ViaNapter,
			Napter:         &accessv1alpha1.NapterAccess{SourceRanges: o.SourceRanges, TLS: port.Name == "https"},
			Target:         &accessv1alpha1.SessionTarget{DeviceGroup: group.Name, Device: device.Name, Port: &p},
			URLValidity:    metav1.Duration{Duration: o.URLValidity},
			AccessWindow:   metav1.Duration{Duration: o.For},
		},
	}
	if err := a.Client.Create(ctx, ss); err != nil {
		return fmt.Errorf("creating StreamingSession: %w", err)
	}
	fmt.Fprintf(a.Err, "streamingsession %s created: Napter to %s/%s port %s for user %s, open to %s for %s\n",
		ss.Name, group.Name, device.Name, port.Name, user, strings.Join(o.SourceRanges, ", "), o.For)
	if _, err := a.waitForURL(ctx, ss, o.Timeout); err != nil {
		return err
	}
	return a.showEndpoint(ctx, client.ObjectKeyFromObject(ss), o.Open)
}

// readEndpoint reads a Ready Napter session's Secret.
func (a *App) readEndpoint(ctx context.Context, ss *accessv1alpha1.StreamingSession) (target.Endpoint, error) {
	if ss.Status.SecretName == "" {
		return target.Endpoint{}, fmt.Errorf("streamingsession %s is Ready but names no Secret yet; try again", ss.Name)
	}
	sec := &corev1.Secret{}
	if err := a.Client.Get(ctx, client.ObjectKey{Namespace: ss.Namespace, Name: ss.Status.SecretName}, sec); err != nil {
		if apierrors.IsForbidden(err) {
			return target.Endpoint{}, fmt.Errorf("session %s is Ready but you may not read its Secret %s (ask for get on secrets in namespace %s): %w", ss.Name, ss.Status.SecretName, ss.Namespace, err)
		}
		return target.Endpoint{}, fmt.Errorf("reading Secret %s: %w", ss.Status.SecretName, err)
	}
	e, ok := target.NapterEndpoint(ss, sec.Data)
	if !ok {
		return e, fmt.Errorf("the Secret of streamingsession %s holds no usable endpoint (keys host and port, or endpoint)", ss.Name)
	}
	return e, nil
}

// showEndpoint prints a Ready Napter session's endpoint: host:port alone on
// Out (for scripts), the rest on Err; with open, a web port's URL is opened.
func (a *App) showEndpoint(ctx context.Context, key client.ObjectKey, open bool) error {
	ss := &accessv1alpha1.StreamingSession{}
	if err := a.Client.Get(ctx, key, ss); err != nil {
		return err
	}
	e, err := a.readEndpoint(ctx, ss)
	if err != nil {
		return err
	}
	tls := "no (plain TCP)"
	if e.TLS {
		tls = "yes (connect with TLS)"
	}
	var ranges []string
	if ss.Spec.Napter != nil {
		ranges = ss.Spec.Napter.SourceRanges
	}
	fmt.Fprintf(a.Err, "streamingsession %s is Ready: Napter endpoint (Secret %s)\n", ss.Name, ss.Status.SecretName)
	fmt.Fprintf(a.Err, "  host %s, port %d, TLS %s\n", e.Host, e.Port, tls)
	fmt.Fprintf(a.Err, "  open to %s", strings.Join(ranges, ", "))
	if e.ExpiresAt != nil {
		fmt.Fprintf(a.Err, " until %s (%s)", e.ExpiresAt.UTC().Format(time.RFC3339), relative(a.now(), &metav1.Time{Time: *e.ExpiresAt}))
	}
	fmt.Fprintln(a.Err)
	if e.SSH != "" {
		fmt.Fprintf(a.Err, "  connect with: %s\n", e.SSH)
	}
	if e.URL != "" {
		fmt.Fprintf(a.Err, "  open: %s\n", e.URL)
	}
	fmt.Fprintln(a.Out, net.JoinHostPort(e.Host, strconv.Itoa(e.Port)))
	if open {
		if e.URL == "" {
			fmt.Fprintf(a.Err, "warning: port %s is no web port, so there is nothing to open in a browser; use the endpoint above\n", ss.Spec.Target.Port)
			return nil
		}
		opener := a.Open
		if opener == nil {
			opener = OpenBrowser
		}
		if err := opener(e.URL); err != nil {
			fmt.Fprintf(a.Err, "warning: could not open a browser (%v); open %s yourself\n", err, e.URL)
		}
	}
	return nil
}

// OpenSession prints how to reach a Ready session: a Napter session's
// endpoint (host:port on Out, details and the ssh command on Err), or an
// AppStream session's URL; with browser, it opens the URL (or a Napter web
// port's http(s)://host:port/).
func (a *App) OpenSession(ctx context.Context, name string, browser bool) error {
	if name == "" {
		return errors.New("open needs a session name: kubectl gatestream open SESSION (see `kubectl gatestream sessions`)")
	}
	key := client.ObjectKey{Namespace: a.Namespace, Name: name}
	ss := &accessv1alpha1.StreamingSession{}
	if err := a.Client.Get(ctx, key, ss); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("streamingsession %q not found in namespace %q (see `kubectl gatestream sessions`)", name, a.Namespace)
		}
		return err
	}
	if ss.Status.Phase != accessv1alpha1.SessionReady {
		phase := string(ss.Status.Phase)
		if phase == "" {
			phase = "not picked up yet"
		}
		msg := describeCondition(readyCondition(ss.Status.Conditions))
		if msg != "" {
			msg = " (" + msg + ")"
		}
		return fmt.Errorf("streamingsession %s is %s%s: there is nothing to open", name, phase, msg)
	}
	if ss.Spec.Via == accessv1alpha1.ViaNapter {
		return a.showEndpoint(ctx, key, browser)
	}
	progress, url, err := a.readURL(ctx, ss)
	if err != nil {
		return err
	}
	if url == "" {
		return fmt.Errorf("streamingsession %s: %s", name, progress)
	}
	fmt.Fprintln(a.Out, url)
	if browser {
		opener := a.Open
		if opener == nil {
			opener = OpenBrowser
		}
		if err := opener(url); err != nil {
			fmt.Fprintf(a.Err, "warning: could not open a browser (%v); open the URL above yourself\n", err)
		}
	}
	return nil
}
