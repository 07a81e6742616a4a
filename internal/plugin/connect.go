package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
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

// ConnectOptions are connect's arguments and flags.
type ConnectOptions struct {
	// Device is the device name (a DeviceGroup's spec.devices[].name).
	Device string
	// Group narrows the search to one DeviceGroup (needed when the name is in several).
	Group string
	// App is the application to open; the environment's first one if empty.
	App string
	// Env is the RemoteAccessEnvironment; the device group's environmentRef if empty.
	Env string
	// User is the AppStream user id; the current Kubernetes user's name if empty.
	User string
	// For is the access window (spec.accessWindow).
	For time.Duration
	// URLValidity is how long the URL can be opened (spec.urlValidity).
	URLValidity time.Duration
	// Timeout bounds the wait for the URL.
	Timeout time.Duration
	// Open opens the URL in a browser (for a Napter session to a web port, http(s)://host:port/).
	Open bool
	// Via is how to connect: AppStream (default) or Napter.
	Via string
	// SourceRanges are the IPv4 CIDRs a Napter endpoint is open to (required with Via Napter).
	SourceRanges []string
	// Port is the device's port name; the first port (the first Napter-reachable one with Napter) if empty.
	Port string
}

// Defaults of connect's flags.
const (
	DefaultAccessWindow   = time.Hour
	DefaultURLValidity    = 5 * time.Minute
	DefaultConnectTimeout = 2 * time.Minute
)

// Connect creates a StreamingSession for the device, waits for the controller
// to mint its URL and prints the URL on Out (progress and details go to Err).
func (a *App) Connect(ctx context.Context, o ConnectOptions) error {
	if o.Device == "" {
		return errors.New("connect needs a device name: kubectl gatestream connect DEVICE (see `kubectl gatestream devices`)")
	}
	if o.For == 0 {
		o.For = DefaultAccessWindow
	}
	if o.URLValidity == 0 {
		o.URLValidity = DefaultURLValidity
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultConnectTimeout
	}

	napter, err := parseVia(o.Via)
	if err != nil {
		return err
	}
	if napter {
		if err := checkSourceRanges(o.SourceRanges); err != nil {
			return err
		}
		if o.For > NapterMaxWindow {
			return fmt.Errorf("--for %s is too long for Napter: SORACOM ends a port mapping after %s", o.For, NapterMaxWindow)
		}
		if o.App != "" {
			return errors.New("--app is for AppStream sessions; a Napter session connects straight to the device's port (drop --app or --via napter)")
		}
	} else if len(o.SourceRanges) > 0 {
		return errors.New("--source-range is for Napter sessions: add --via napter")
	}

	group, device, err := a.findDevice(ctx, o.Device, o.Group)
	if err != nil {
		return err
	}

	envName := group.Spec.EnvironmentRef.Name
	if o.Env != "" && o.Env != envName {
		return fmt.Errorf("device %q is in DeviceGroup %q, which uses environment %q, not %q: drop --env or pick a device of %q",
			o.Device, group.Name, envName, o.Env, o.Env)
	}
	env := &accessv1alpha1.RemoteAccessEnvironment{}
	if err := a.Client.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: envName}, env); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("RemoteAccessEnvironment %q (DeviceGroup %q's environmentRef) does not exist in namespace %q", envName, group.Name, a.Namespace)
		}
		return fmt.Errorf("reading RemoteAccessEnvironment %q: %w", envName, err)
	}
	if napter {
		return a.connectNapter(ctx, o, group, device, env)
	}
	if err := environmentUsable(env); err != nil {
		return err
	}

	apps := env.Spec.AppStream.Applications
	app := o.App
	switch {
	case len(apps) == 0:
		return fmt.Errorf("environment %q offers no applications (spec.appStream.applications is empty)", env.Name)
	case app == "":
		app = apps[0]
	case !slices.Contains(apps, app):
		return fmt.Errorf("application %q is not offered by environment %q; choose one of: %s", app, env.Name, strings.Join(apps, ", "))
	}

	user, err := a.sessionUser(ctx, o.User)
	if err != nil {
		return err
	}

	if st := deviceStatus(group, device.Name); st != nil && !st.Online {
		fmt.Fprintf(a.Err, "warning: device %s is offline (its SIM has no session); the URL will work but the device may not answer\n", device.Name)
	}

	to := &accessv1alpha1.SessionTarget{DeviceGroup: group.Name, Device: device.Name}
	switch {
	case o.Port != "":
		if !slices.ContainsFunc(device.Ports, func(p accessv1alpha1.DevicePort) bool { return p.Name == o.Port }) {
			return fmt.Errorf("device %q has no port %q; its ports: %s", device.Name, o.Port, portNames(device.Ports))
		}
		port := intstr.FromString(o.Port)
		to.Port = &port
	case len(device.Ports) > 0:
		port := intstr.FromString(device.Ports[0].Name)
		to.Port = &port
	}
	ss := &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    a.Namespace,
			GenerateName: target.GenerateName(user, device.Name),
			Labels:       map[string]string{"app.kubernetes.io/created-by": "kubectl-gatestream"},
		},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: env.Name},
			UserID:         user,
			Application:    app,
			Target:         to,
			URLValidity:    metav1.Duration{Duration: o.URLValidity},
			AccessWindow:   metav1.Duration{Duration: o.For},
		},
	}
	if err := a.Client.Create(ctx, ss); err != nil {
		return fmt.Errorf("creating StreamingSession: %w", err)
	}
	fmt.Fprintf(a.Err, "streamingsession %s created: %s on %s/%s for user %s, access for %s\n",
		ss.Name, app, group.Name, device.Name, user, o.For)

	url, err := a.waitForURL(ctx, ss, o.Timeout)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Out, url)
	if o.Open {
		open := a.Open
		if open == nil {
			open = OpenBrowser
		}
		if err := open(url); err != nil {
			fmt.Fprintf(a.Err, "warning: could not open a browser (%v); open the URL above yourself\n", err)
		}
	}
	return nil
}

// findDevice finds the DeviceGroup holding the named device, by the rule the
// controller and the portal use (target.FindDevice).
func (a *App) findDevice(ctx context.Context, name, groupName string) (*accessv1alpha1.DeviceGroup, *accessv1alpha1.Device, error) {
	var groups []accessv1alpha1.DeviceGroup
	if groupName != "" {
		g := &accessv1alpha1.DeviceGroup{}
		switch err := a.Client.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: groupName}, g); {
		case err == nil:
			groups = []accessv1alpha1.DeviceGroup{*g}
		case !apierrors.IsNotFound(err):
			return nil, nil, fmt.Errorf("reading DeviceGroup %q: %w", groupName, err)
		}
	}
	if groups == nil { // no group named, or not found: the namespace's groups (for the message)
		var err error
		if groups, err = a.listGroups(ctx); err != nil {
			return nil, nil, err
		}
		if len(groups) == 0 && groupName == "" {
			return nil, nil, fmt.Errorf("no DeviceGroups in namespace %q (wrong namespace? pass -n NAMESPACE)", a.Namespace)
		}
	}
	d, err := target.FindDevice(groups, name, groupName)
	if errors.Is(err, target.ErrAmbiguous) {
		return nil, nil, fmt.Errorf("%w: pass --group to choose one", err)
	} else if err != nil {
		return nil, nil, err
	}
	return d.Group, d.Spec, nil
}

func (a *App) listGroups(ctx context.Context) ([]accessv1alpha1.DeviceGroup, error) {
	var list accessv1alpha1.DeviceGroupList
	if err := a.Client.List(ctx, &list, client.InNamespace(a.Namespace)); err != nil {
		return nil, fmt.Errorf("listing DeviceGroups in namespace %q: %w", a.Namespace, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

// environmentUsable says why a session on env cannot be served now.
func environmentUsable(env *accessv1alpha1.RemoteAccessEnvironment) error {
	if env.DeletionTimestamp != nil {
		return fmt.Errorf("environment %q is being deleted", env.Name)
	}
	c := readyCondition(env.Status.Conditions)
	switch {
	case c == nil:
		return fmt.Errorf("environment %q is not Ready: it has no Ready condition yet (is the gatestream manager running? see `kubectl describe rae %s`)", env.Name, env.Name)
	case c.Status != metav1.ConditionTrue:
		return fmt.Errorf("environment %q is not Ready (Ready=%s, reason %s): %s\nsee `kubectl describe rae %s` for each part's condition", env.Name, c.Status, orDash(c.Reason), orDash(c.Message), env.Name)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func deviceStatus(g *accessv1alpha1.DeviceGroup, name string) *accessv1alpha1.DeviceStatus {
	for i := range g.Status.Devices {
		if g.Status.Devices[i].Name == name {
			return &g.Status.Devices[i]
		}
	}
	return nil
}

// waitForURL polls the session until it is Ready (and returns the URL from
// its Secret), Failed or otherwise finished, or the timeout passes. Progress
// goes to Err whenever it changes, and at least every ProgressEvery.
func (a *App) waitForURL(ctx context.Context, ss *accessv1alpha1.StreamingSession, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	key := client.ObjectKeyFromObject(ss)
	ticker := time.NewTicker(a.pollInterval())
	defer ticker.Stop()

	var last string
	var lastAt time.Time
	for {
		progress, url, err := a.checkSession(ctx, key, ss.Spec.EnvironmentRef.Name)
		if err != nil || url != "" {
			return url, err
		}
		if progress != last || time.Since(lastAt) >= a.progressEvery() {
			fmt.Fprintf(a.Err, "waiting: %s [%ds]\n", progress, int(time.Since(start).Seconds()))
			last, lastAt = progress, time.Now()
		}
		select {
		case <-ctx.Done():
			why := "timed out after " + timeout.String()
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				why = "interrupted"
			}
			return "", fmt.Errorf("%s waiting for streamingsession %s (last: %s); it is left in place: see `kubectl gatestream sessions`, remove it with `kubectl gatestream end %s`",
				why, key.Name, last, key.Name)
		case <-ticker.C:
		}
	}
}

// napterReady is what checkSession returns as the "URL" of a Ready Napter session.
const napterReady = "napter:ready"

// checkSession reads the session once: it returns a progress line while
// waiting, the URL when Ready, or an error when the session cannot become Ready.
func (a *App) checkSession(ctx context.Context, key client.ObjectKey, envName string) (progress, url string, err error) {
	ss := &accessv1alpha1.StreamingSession{}
	if err := a.Client.Get(ctx, key, ss); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", fmt.Errorf("streamingsession %s was deleted while waiting for its URL", key.Name)
		}
		return "reading the session: " + err.Error(), "", nil
	}
	cond := readyCondition(ss.Status.Conditions)
	switch ss.Status.Phase {
	case accessv1alpha1.SessionReady:
		if target.ViaNapter(ss) {
			return "", napterReady, nil // the endpoint is read by showEndpoint
		}
		return a.readURL(ctx, ss)
	case accessv1alpha1.SessionFailed:
		msg := describeCondition(cond)
		if msg == "" {
			msg = "no reason given"
		}
		return "", "", fmt.Errorf("streamingsession %s failed: %s", ss.Name, msg)
	case accessv1alpha1.SessionActive, accessv1alpha1.SessionExpired, accessv1alpha1.SessionEnded, accessv1alpha1.SessionRevoked:
		return "", "", fmt.Errorf("streamingsession %s is %s before its URL could be read; run connect again", ss.Name, ss.Status.Phase)
	}
	if target.ViaNapter(ss) { // the fleet plays no part: the environment's readiness does not matter
		if d := describeCondition(cond); d != "" && ss.Status.Phase != "" {
			return fmt.Sprintf("session %s (%s)", ss.Status.Phase, d), "", nil
		}
		if ss.Status.Phase == "" {
			return "the controller has not picked up the session yet (is the gatestream manager running?)", "", nil
		}
		return "session " + string(ss.Status.Phase), "", nil
	}

	env := &accessv1alpha1.RemoteAccessEnvironment{}
	if err := a.Client.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: envName}, env); err == nil {
		if c := readyCondition(env.Status.Conditions); c == nil || c.Status != metav1.ConditionTrue {
			why := "no Ready condition"
			if c != nil {
				why = describeCondition(c)
			}
			return fmt.Sprintf("environment %s not Ready (%s)", envName, why), "", nil
		}
	}
	if ss.Status.Phase == "" {
		return "the controller has not picked up the session yet (is the gatestream manager running?)", "", nil
	}
	if d := describeCondition(cond); d != "" {
		return fmt.Sprintf("session %s (%s)", ss.Status.Phase, d), "", nil
	}
	return "session " + string(ss.Status.Phase), "", nil
}

// readURL reads the URL from a Ready session's Secret and reports its expiry on Err.
func (a *App) readURL(ctx context.Context, ss *accessv1alpha1.StreamingSession) (progress, url string, err error) {
	if ss.Status.SecretName == "" {
		return "session Ready, waiting for status.secretName", "", nil
	}
	sec := &corev1.Secret{}
	if err := a.Client.Get(ctx, client.ObjectKey{Namespace: ss.Namespace, Name: ss.Status.SecretName}, sec); err != nil {
		if apierrors.IsForbidden(err) {
			return "", "", fmt.Errorf("session %s is Ready but you may not read its Secret %s (ask for get on secrets in namespace %s): %w", ss.Name, ss.Status.SecretName, ss.Namespace, err)
		}
		return fmt.Sprintf("reading Secret %s: %v", ss.Status.SecretName, err), "", nil
	}
	url = string(sec.Data["url"])
	if url == "" {
		return fmt.Sprintf("Secret %s has no url yet", ss.Status.SecretName), "", nil
	}

	now := a.now()
	expires := ss.Status.URLExpiresAt
	if expires == nil {
		if t, perr := time.Parse(time.RFC3339, string(sec.Data["expiresAt"])); perr == nil {
			expires = &metav1.Time{Time: t}
		}
	}
	fmt.Fprintf(a.Err, "streamingsession %s is Ready (Secret %s)\n", ss.Name, ss.Status.SecretName)
	if expires != nil {
		fmt.Fprintf(a.Err, "  URL can be opened until %s (%s)\n", expires.UTC().Format(time.RFC3339), relative(now, expires))
	}
	if ends := ss.Status.AccessEndsAt; ends != nil {
		fmt.Fprintf(a.Err, "  access ends at %s (%s)\n", ends.UTC().Format(time.RFC3339), relative(now, ends))
	}
	return "", url, nil
}

// sessionUser is the session's userId: the one given, or the requester's
// own user name, which must be a valid session user id.
func (a *App) sessionUser(ctx context.Context, given string) (string, error) {
	user := given
	if user == "" {
		var err error
		if user, err = a.whoAmI(ctx); err != nil {
			return "", fmt.Errorf("finding out who you are (pass --%s to say it): %w", AppStreamUserFlag, err)
		}
	}
	if !userIDPattern.MatchString(user) {
		return "", fmt.Errorf("your user name %q is not a valid session user id (2–32 letters, digits and + = , . @ - _); "+
			"pass --%s (the admission policy lets only members of its admin groups create sessions for another user)", user, AppStreamUserFlag)
	}
	return user, nil
}
