package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/session/target"
)

// LabelCreatedBy marks the StreamingSessions the portal creates.
const LabelCreatedBy = "app.kubernetes.io/created-by"

// CreatedByValue is the value of LabelCreatedBy on portal sessions.
const CreatedByValue = "gatestream-portal"

// noAccessHint tells a person without RBAC what to ask for.
const noAccessHint = "Ask your platform team for a RoleBinding in the namespace of the devices you need that lets you create, get, list and delete streamingsessions.access.gatestream.io and get secrets (docs/portal.md has an example). If you were just given access, sign out and in again."

// ---- devices ----

type deviceView struct {
	ID, Namespace, Group, Name string
	Online, CanConnect         bool
	Why                        string
	Apps                       []string
	Ports                      []accessv1alpha1.DevicePort
	// Napter is "Connect via Napter" (nil when the environment does not allow it).
	Napter *napterOption
}

type groupView struct {
	Namespace, Name, Env string
	EnvReady             bool
	EnvMessage           string
	Devices              []deviceView
}

type nsView struct {
	Name   string
	Groups []groupView
}

func envReady(env *accessv1alpha1.RemoteAccessEnvironment) (bool, string) {
	c := meta.FindStatusCondition(env.Status.Conditions, accessv1alpha1.ConditionReady)
	switch {
	case c == nil:
		return false, "the environment has not reported its state yet"
	case c.Status != metav1.ConditionTrue:
		if c.Message != "" {
			return false, c.Message
		}
		return false, c.Reason
	case c.ObservedGeneration != 0 && c.ObservedGeneration != env.Generation:
		return false, "the environment's last change is still being applied"
	}
	return true, ""
}

func deviceOnline(g *accessv1alpha1.DeviceGroup, name string) bool {
	for _, d := range g.Status.Devices {
		if d.Name == name {
			return d.Online
		}
	}
	return false
}

func reachable(g *accessv1alpha1.DeviceGroup, name string) bool {
	ok, _ := deviceReach(g, name)
	return ok
}

// deviceReach is whether the fleet can reach the device, hop by hop, and
// otherwise the broken hop (as the DeviceGroup reports it).
func deviceReach(g *accessv1alpha1.DeviceGroup, name string) (bool, string) {
	for _, d := range g.Status.Devices {
		if d.Name == name {
			return d.Reachable, d.Path
		}
	}
	return false, "not checked yet"
}

func (s *Server) kubeDown(w http.ResponseWriter, r *http.Request, ps *portalSession, err error) {
	s.log.Error(err, "Kubernetes API call failed", "path", r.URL.Path)
	s.fail(w, r, ps, http.StatusBadGateway, errorView{Heading: "Kubernetes is not answering", Message: "The portal could not reach the Kubernetes API. Try again in a minute."})
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.person(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := ps.identity()
	groups, nss, err := s.kube.deviceGroups(ctx)
	if err != nil {
		s.kubeDown(w, r, ps, err)
		return
	}
	if len(nss) == 0 {
		s.fail(w, r, ps, http.StatusOK, errorView{Heading: "No devices yet", Message: "No DeviceGroups exist in this cluster, so there is nothing to connect to.", Links: []link{{"/sessions", "My sessions"}}})
		return
	}
	allowed, err := s.kube.allowedNamespaces(ctx, id, nss)
	if err != nil {
		s.kubeDown(w, r, ps, err)
		return
	}
	if len(allowed) == 0 {
		groupsText := "no groups"
		if len(id.Groups) > 0 {
			groupsText = "groups " + strings.Join(id.Groups, ", ")
		}
		s.fail(w, r, ps, http.StatusForbidden, errorView{
			Heading: "No access to any devices",
			Message: fmt.Sprintf("You are signed in as %s (%s), but Kubernetes RBAC does not allow you to create StreamingSessions in any namespace that has devices, so there are no devices to show you.", id.User, groupsText),
			Hint:    noAccessHint,
			Links:   []link{{"/sessions", "My sessions"}},
		})
		return
	}
	envs := map[string]*accessv1alpha1.RemoteAccessEnvironment{}
	for _, ns := range allowed {
		var l accessv1alpha1.RemoteAccessEnvironmentList
		if err := s.kube.own.List(ctx, &l, client.InNamespace(ns)); err != nil {
			s.kubeDown(w, r, ps, err)
			return
		}
		for i := range l.Items {
			envs[ns+"/"+l.Items[i].Name] = &l.Items[i]
		}
	}
	view := map[string]*nsView{}
	for i := range groups {
		g := &groups[i]
		if !slices.Contains(allowed, g.Namespace) {
			continue
		}
		gv := groupView{Namespace: g.Namespace, Name: g.Name, Env: g.Spec.EnvironmentRef.Name}
		env := envs[g.Namespace+"/"+gv.Env]
		var apps []string
		if env == nil {
			gv.EnvMessage = "the environment does not exist"
		} else {
			gv.EnvReady, gv.EnvMessage = envReady(env)
			apps = env.Spec.AppStream.Applications
		}
		for i := range g.Spec.Devices {
			d := &g.Spec.Devices[i]
			dv := deviceView{
				ID: g.Namespace + "-" + g.Name + "-" + d.Name, Namespace: g.Namespace, Group: g.Name, Name: d.Name,
				Online: deviceOnline(g, d.Name), Apps: apps, Ports: d.Ports,
			}
			dv.Napter = napterOptionFor(env, d, dv.Online)
			switch {
			case !gv.EnvReady:
				dv.Why = "Not available: the environment is not ready."
			case !dv.Online:
				dv.Why = "Offline: the device's SIM has no data session right now."
			case !reachable(g, d.Name):
				_, why := deviceReach(g, d.Name)
				dv.Why = "Unreachable from the streaming fleet: " + why
			case len(apps) == 0:
				dv.Why = "The environment offers no applications."
			default:
				dv.CanConnect = true
			}
			gv.Devices = append(gv.Devices, dv)
		}
		nv := view[g.Namespace]
		if nv == nil {
			nv = &nsView{Name: g.Namespace}
			view[g.Namespace] = nv
		}
		nv.Groups = append(nv.Groups, gv)
	}
	var out []nsView
	for _, ns := range allowed {
		if nv := view[ns]; nv != nil {
			sort.Slice(nv.Groups, func(i, j int) bool { return nv.Groups[i].Name < nv.Groups[j].Name })
			out = append(out, *nv)
		}
	}
	s.render(w, http.StatusOK, "devices", ps, pageData{Title: "Devices", Nav: "devices", Data: struct{ Namespaces []nsView }{out}})
}

// ---- connect ----

type auditRec struct {
	Namespace, DeviceGroup, Device, Application, Via, SourceRange, Session, Result, Reason string
}

// audit writes the one structured line of a connect or end: who, where,
// what, when and how it went. Never the URL.
func (s *Server) audit(action string, id identity, a auditRec) {
	s.log.Info("portal "+action, "audit", true, "action", action,
		"user", id.User, "groups", id.Groups,
		"namespace", a.Namespace, "deviceGroup", a.DeviceGroup, "device", a.Device, "application", a.Application,
		"via", a.Via, "sourceRange", a.SourceRange, "session", a.Session, "result", a.Result, "reason", a.Reason,
		"at", time.Now().UTC().Format(time.RFC3339Nano))
}

func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	clicked := time.Now()
	now := s.now()
	ps, ok := s.person(w, r)
	if !ok || !s.checkForm(w, r, ps) {
		return
	}
	ctx := r.Context()
	id := ps.identity()
	f := r.PostForm
	a := auditRec{Namespace: f.Get("namespace"), DeviceGroup: f.Get("deviceGroup"), Device: f.Get("device"), Application: f.Get("application"),
		Via: string(accessv1alpha1.ViaAppStream)}
	port := f.Get("port")
	napter := false
	switch strings.ToLower(f.Get("via")) {
	case "", "appstream":
	case viaNapter:
		napter, a.Via, a.Application = true, string(accessv1alpha1.ViaNapter), ""
	default:
		a.Via = f.Get("via")
	}
	refuse := func(result string, status int, ev errorView) {
		a.Result, a.Reason = result, ev.Heading
		if ev.Detail != "" {
			a.Reason += ": " + ev.Detail
		}
		s.metrics.connects.WithLabelValues(result).Inc()
		s.audit("connect", id, a)
		s.fail(w, r, ps, status, ev)
	}
	if a.Via != string(accessv1alpha1.ViaAppStream) && a.Via != string(accessv1alpha1.ViaNapter) {
		refuse(resultInvalid, http.StatusBadRequest, errorView{Heading: "Unknown way to connect", Message: "Connect via AppStream or via Napter from the devices page."})
		return
	}
	if a.Namespace == "" || a.DeviceGroup == "" || a.Device == "" || (!napter && a.Application == "") || (napter && port == "") {
		msg := "Pick a device and an application on the devices page."
		if napter {
			msg = "Pick a device and a port on the devices page."
		}
		refuse(resultInvalid, http.StatusBadRequest, errorView{Heading: "Incomplete request", Message: msg})
		return
	}
	if ok, wait := s.limiter.allow(id.User, now); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		refuse(resultRateLimited, http.StatusTooManyRequests, errorView{
			Heading: "Too many connections",
			Message: fmt.Sprintf("You may connect about %g times a minute (%d at once). Wait a moment and try again.", s.cfg.ConnectPerMinute, s.cfg.ConnectBurst),
			Hint:    fmt.Sprintf("You can connect again in %d s.", secs),
		})
		return
	}
	if !appStreamUserID.MatchString(id.User) {
		refuse(resultInvalid, http.StatusBadRequest, errorView{
			Heading: "Your user name cannot be used with AppStream",
			Message: fmt.Sprintf("AppStream user ids are 2 to 32 letters, digits and + = , . @ - _; your Kubernetes user name %q is not one, so no streaming URL can be made for you.", id.User),
			Hint:    "Ask your platform team to map your sign-in to a shorter user name (the username claim or prefix), or to create the session for you.",
		})
		return
	}
	// RBAC first: someone who may not create sessions here learns nothing
	// about the namespace's devices or environment.
	allowed, err := s.kube.canCreateSessions(ctx, id, a.Namespace)
	if err != nil {
		s.metrics.connects.WithLabelValues(resultError).Inc()
		s.kubeDown(w, r, ps, err)
		return
	}
	if !allowed {
		refuse(resultDenied, http.StatusForbidden, errorView{
			Heading: "No access",
			Message: fmt.Sprintf("Kubernetes RBAC does not allow %s to create StreamingSessions in namespace %s.", id.User, a.Namespace),
			Hint:    noAccessHint,
		})
		return
	}
	var g accessv1alpha1.DeviceGroup
	if err := s.kube.own.Get(ctx, types.NamespacedName{Namespace: a.Namespace, Name: a.DeviceGroup}, &g); err != nil {
		if apierrors.IsNotFound(err) {
			refuse(resultUnavailable, http.StatusNotFound, errorView{Heading: "Device not found", Message: fmt.Sprintf("There is no DeviceGroup %s in namespace %s.", a.DeviceGroup, a.Namespace)})
			return
		}
		s.kubeDown(w, r, ps, err)
		return
	}
	dev, err := target.FindDevice([]accessv1alpha1.DeviceGroup{g}, a.Device, a.DeviceGroup)
	if err != nil {
		refuse(resultUnavailable, http.StatusNotFound, errorView{Heading: "Device not found", Message: fmt.Sprintf("DeviceGroup %s has no device %s.", a.DeviceGroup, a.Device)})
		return
	}
	var env accessv1alpha1.RemoteAccessEnvironment
	if err := s.kube.own.Get(ctx, types.NamespacedName{Namespace: a.Namespace, Name: g.Spec.EnvironmentRef.Name}, &env); err != nil {
		if apierrors.IsNotFound(err) {
			refuse(resultUnavailable, http.StatusConflict, errorView{Heading: "Environment not ready", Message: fmt.Sprintf("The environment %s of %s does not exist.", g.Spec.EnvironmentRef.Name, a.DeviceGroup)})
			return
		}
		s.kubeDown(w, r, ps, err)
		return
	}
	if napter {
		s.connectNapter(w, r, ps, clicked, a, refuse, &g, dev.Spec, &env, port)
		return
	}
	if ready, why := envReady(&env); !ready {
		refuse(resultUnavailable, http.StatusConflict, errorView{
			Heading: "Environment not ready",
			Message: fmt.Sprintf("The remote access environment %s that serves %s is not ready, so no session can start now.", env.Name, a.Device),
			Detail:  why, Hint: "Try again later, or tell your platform team.",
		})
		return
	}
	if !slices.Contains(env.Spec.AppStream.Applications, a.Application) {
		refuse(resultInvalid, http.StatusBadRequest, errorView{Heading: "Unknown application", Message: fmt.Sprintf("The environment %s does not offer %q.", env.Name, a.Application)})
		return
	}
	if !deviceOnline(&g, a.Device) {
		refuse(resultUnavailable, http.StatusConflict, errorView{
			Heading: "Device offline",
			Message: fmt.Sprintf("%s is offline: its SIM has no data session, so it cannot be reached now.", a.Device),
			Hint:    "Check that the device is powered and has coverage, then try again.",
		})
		return
	}
	if ok, why := deviceReach(&g, a.Device); !ok {
		refuse(resultUnavailable, http.StatusConflict, errorView{
			Heading: "Device unreachable",
			Message: fmt.Sprintf("%s cannot be reached from the streaming fleet: %s", a.Device, why),
			Hint:    "Your platform team sees the broken hop with kubectl get dg -o wide; try again once it is fixed.",
		})
		return
	}
	portName := intstr.FromString(port)
	if _, err := dev.Port(&portName); port != "" && err != nil {
		refuse(resultInvalid, http.StatusBadRequest, errorView{Heading: "Unknown port", Message: fmt.Sprintf("%s has no port %q.", a.Device, port)})
		return
	}

	ss := &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: a.Namespace, GenerateName: target.GenerateName(id.User, a.Device),
			Labels: map[string]string{LabelCreatedBy: CreatedByValue},
		},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: env.Name},
			UserID:         id.User,
			Application:    a.Application,
			Target:         &accessv1alpha1.SessionTarget{DeviceGroup: g.Name, Device: dev.Spec.Name},
			URLValidity:    metav1.Duration{Duration: s.cfg.URLValidity},
			AccessWindow:   metav1.Duration{Duration: s.cfg.AccessWindow},
		},
	}
	if port != "" {
		p := intstr.FromString(port)
		ss.Spec.Target.Port = &p
	}
	if s.cfg.TTLAfterFinished > 0 {
		ss.Spec.TTLAfterFinished = &metav1.Duration{Duration: s.cfg.TTLAfterFinished}
	}
	s.createSession(w, r, ps, clicked, a, refuse, ss)
}

// createSession creates the session as the person and sends the browser to its progress page.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request, ps *portalSession, clicked time.Time, a auditRec, refuse func(string, int, errorView), ss *accessv1alpha1.StreamingSession) {
	id := ps.identity()
	c, err := s.kube.as(id)
	if err == nil {
		err = c.Create(r.Context(), ss)
	}
	switch {
	case apierrors.IsForbidden(err):
		refuse(resultDenied, http.StatusForbidden, errorView{Heading: "Kubernetes refused", Message: "Kubernetes did not let you create this session.", Detail: apiMessage(err), Hint: noAccessHint})
		return
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		refuse(resultInvalid, http.StatusUnprocessableEntity, errorView{Heading: "Kubernetes refused", Message: "Kubernetes rejected the session.", Detail: apiMessage(err)})
		return
	case err != nil:
		s.metrics.connects.WithLabelValues(resultError).Inc()
		a.Result, a.Reason = resultError, err.Error()
		s.audit("connect", id, a)
		s.kubeDown(w, r, ps, err)
		return
	}
	a.Session, a.Result = ss.Name, "created"
	s.audit("connect", id, a)
	s.pending.add(ss.Namespace+"/"+ss.Name, clicked)
	http.Redirect(w, r, sessionPath(ss.Namespace, ss.Name), http.StatusSeeOther)
}

func apiMessage(err error) string {
	if st, ok := err.(apierrors.APIStatus); ok {
		return st.Status().Message
	}
	return err.Error()
}

func sessionPath(ns, name string) string {
	return "/sessions/" + url.PathEscape(ns) + "/" + url.PathEscape(name)
}

// ---- a person's own session ----

// ownSession reads a session for the person: as the person (impersonated),
// or, when their RBAC lets them create but not read sessions, with the
// portal's identity provided they may create sessions in the namespace.
// Either way only the person's own sessions (spec.userId) are returned; any
// other is reported as not found.
func (s *Server) ownSession(ctx context.Context, id identity, ns, name string) (*accessv1alpha1.StreamingSession, error) {
	c, err := s.kube.as(id)
	if err != nil {
		return nil, err
	}
	key := types.NamespacedName{Namespace: ns, Name: name}
	ss := &accessv1alpha1.StreamingSession{}
	err = c.Get(ctx, key, ss)
	if apierrors.IsForbidden(err) {
		ok, serr := s.kube.canCreateSessions(ctx, id, ns)
		if serr != nil {
			return nil, serr
		}
		if !ok {
			return nil, err
		}
		err = s.kube.own.Get(ctx, key, ss)
	}
	if err != nil {
		return nil, err
	}
	if ss.Spec.UserID != id.User {
		return nil, apierrors.NewNotFound(accessv1alpha1.GroupVersion.WithResource("streamingsessions").GroupResource(), name)
	}
	return ss, nil
}

// loadOwn is ownSession that answers errors with a page.
func (s *Server) loadOwn(w http.ResponseWriter, r *http.Request, ps *portalSession) (*accessv1alpha1.StreamingSession, bool) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	ss, err := s.ownSession(r.Context(), ps.identity(), ns, name)
	if err != nil {
		s.sessionError(w, r, ps, ns, err)
		return nil, false
	}
	return ss, true
}

// sessionError answers a failed ownSession with a page.
func (s *Server) sessionError(w http.ResponseWriter, r *http.Request, ps *portalSession, ns string, err error) {
	switch {
	case apierrors.IsNotFound(err):
		s.fail(w, r, ps, http.StatusNotFound, errorView{Heading: "Session not found", Message: "You have no session of that name; it may have ended and been removed."})
	case apierrors.IsForbidden(err):
		s.fail(w, r, ps, http.StatusForbidden, errorView{Heading: "No access", Message: "Kubernetes RBAC does not let you see sessions in namespace " + ns + ".", Hint: noAccessHint})
	default:
		s.kubeDown(w, r, ps, err)
	}
}

func readyMessage(ss *accessv1alpha1.StreamingSession) string {
	if c := meta.FindStatusCondition(ss.Status.Conditions, accessv1alpha1.ConditionReady); c != nil {
		if c.Message != "" {
			return c.Message
		}
		return c.Reason
	}
	return ""
}

func deviceOf(ss *accessv1alpha1.StreamingSession) (group, device string) {
	if ss.Spec.Target != nil {
		return ss.Spec.Target.DeviceGroup, ss.Spec.Target.Device
	}
	return "", "(no device)"
}

// finish records the outcome of a connect clicked on this replica, once.
func (s *Server) finish(ss *accessv1alpha1.StreamingSession, result string) {
	if t, ok := s.pending.take(ss.Namespace + "/" + ss.Name); ok {
		s.metrics.connects.WithLabelValues(result).Inc()
		if result == resultOK {
			s.metrics.connectSeconds.Observe(time.Since(t).Seconds())
		}
	}
}

type progressView struct {
	Heading, Message, Device, App, Via, Phase, Detail, OpenPath string
}

// status is the progress page: it says where the session is and, while a URL
// is coming or ready, moves on by itself (meta refresh, no script) to /open.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.person(w, r)
	if !ok {
		return
	}
	ss, ok := s.loadOwn(w, r, ps)
	if !ok {
		return
	}
	_, device := deviceOf(ss)
	pv := progressView{Device: device, App: ss.Spec.Application, Via: wayIn(ss), Phase: string(ss.Status.Phase)}
	napter := target.ViaNapter(ss)
	what := "a streaming URL"
	if napter {
		what = "a Napter endpoint"
	}
	open := sessionPath(ss.Namespace, ss.Name) + "/open"
	d := pageData{Title: "Session", Nav: "sessions"}
	now := time.Now()
	switch ss.Status.Phase {
	case accessv1alpha1.SessionFailed:
		s.finish(ss, resultFailed)
		s.fail(w, r, ps, http.StatusBadGateway, errorView{
			Heading: "The session failed",
			Message: fmt.Sprintf("gatestream could not make %s for %s (%s).", what, device, wayIn(ss)),
			Detail:  readyMessage(ss),
			Hint:    "Connect again from the devices page; if it keeps failing, tell your platform team what the details say.",
		})
		return
	case accessv1alpha1.SessionReady:
		pv.Heading, pv.Message, pv.OpenPath = "Opening your session", "Your session for "+device+" is ready. Opening it…", open
		d.Refresh = "0;url=" + open
	case accessv1alpha1.SessionActive:
		pv.Heading = "Session in use"
		pv.Message = "This session has been opened already; its URL works only once."
		if t := ss.Status.AccessEndsAt; t != nil {
			pv.Message += " Access ends in " + humanDuration(t.Sub(now)) + "."
		}
	case accessv1alpha1.SessionExpired, accessv1alpha1.SessionEnded, accessv1alpha1.SessionRevoked:
		pv.Heading = "Session over"
		pv.Message = map[accessv1alpha1.SessionPhase]string{
			accessv1alpha1.SessionExpired: "The URL expired before it was opened.",
			accessv1alpha1.SessionEnded:   "The access window has ended.",
			accessv1alpha1.SessionRevoked: "The session was ended.",
		}[ss.Status.Phase] + " Connect again from the devices page."
		if napter && ss.Status.Phase != accessv1alpha1.SessionExpired {
			pv.Message = strings.TrimSuffix(pv.Message, " Connect again from the devices page.") + " Its Napter endpoint is closed. Connect again from the devices page."
		}
	default:
		if pv.Phase == "" {
			pv.Phase = string(accessv1alpha1.SessionPending)
		}
		waited := now.Sub(ss.CreationTimestamp.Time)
		pv.Heading, pv.OpenPath, pv.Detail = "Preparing your session", open, readyMessage(ss)
		pv.Message = "gatestream is making " + what + " for " + device + ". This page moves on by itself."
		d.Refresh = "0;url=" + open
		if waited > s.cfg.ConnectTimeout {
			s.finish(ss, resultTimeout)
			pv.Heading = "Still waiting"
			pv.Message = "There is no " + strings.TrimPrefix(strings.TrimPrefix(what, "a "), "streaming ") + " for " + device + " after " + humanDuration(waited) + ". The page keeps trying; you can also end the session from My sessions."
			d.Refresh = "5;url=" + open
		}
	}
	d.Data = pv
	s.render(w, http.StatusOK, "progress", ps, d)
}

// open waits (up to the long-poll bound) for the session's URL and sends the
// browser there with a 303 whose only trace of the URL is the Location
// header: no body, no-store, no log.
func (s *Server) open(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.person(w, r)
	if !ok {
		return
	}
	// Each person has at most --long-polls-per-person pages waiting here, so
	// that one person's many tabs cannot slow everyone else's pages.
	if !s.waits.acquire(ps.User) {
		s.metrics.openLimited.Inc()
		w.Header().Set("Retry-After", "2")
		s.fail(w, r, ps, http.StatusTooManyRequests, errorView{
			Heading: "Too many pages waiting",
			Message: fmt.Sprintf("You already have %d pages waiting for a session's URL; the portal waits for at most %d at once per person.", s.cfg.LongPollsPerPerson, s.cfg.LongPollsPerPerson),
			Hint:    "Close the other progress pages, or wait for them, then reload this one.",
			Links:   []link{{sessionPath(r.PathValue("ns"), r.PathValue("name")), "Back to the session"}, {"/sessions", "My sessions"}},
		})
		return
	}
	defer s.waits.release(ps.User)
	s.metrics.openWaits.Inc()
	defer s.metrics.openWaits.Dec()
	deadline := time.Now().Add(s.longPoll)
	back := sessionPath(r.PathValue("ns"), r.PathValue("name"))
	for {
		ss, ok := s.loadOwn(w, r, ps)
		if !ok {
			return
		}
		switch ss.Status.Phase {
		case accessv1alpha1.SessionReady:
			if target.ViaNapter(ss) {
				s.napterEndpoint(w, r, ps, ss)
				return
			}
			u, ev, status := s.sessionURL(r.Context(), ps.identity(), ss)
			if u == "" {
				s.fail(w, r, ps, status, ev)
				return
			}
			s.finish(ss, resultOK)
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Location", u)
			w.WriteHeader(http.StatusSeeOther)
			return
		case "", accessv1alpha1.SessionPending:
			if time.Now().After(deadline) {
				http.Redirect(w, r, back, http.StatusSeeOther)
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(s.poll):
			}
		default:
			http.Redirect(w, r, back, http.StatusSeeOther)
			return
		}
	}
}

// sessionURL reads the URL from the session's Secret (sessionSecret).
func (s *Server) sessionURL(ctx context.Context, id identity, ss *accessv1alpha1.StreamingSession) (string, errorView, int) {
	sec, ev, status := s.sessionSecret(ctx, id, ss, "URL")
	if sec == nil {
		return "", ev, status
	}
	raw := string(sec.Data["url"])
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Host == "" || !(u.Scheme == "https" || (u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
		return "", errorView{Heading: "Cannot open your URL", Message: "The session's Secret does not hold a usable https URL."}, http.StatusBadGateway
	}
	return raw, errorView{}, 0
}

// sessionSecret reads the session's Secret (which holds its URL or Napter
// endpoint, what) as the person; when their RBAC forbids reading Secrets and
// --secret-read-fallback is on, with the portal's identity, but only the
// Secret the session owns (the session is already known to be the person's own).
func (s *Server) sessionSecret(ctx context.Context, id identity, ss *accessv1alpha1.StreamingSession, what string) (*corev1.Secret, errorView, int) {
	if ss.Status.SecretName == "" {
		return nil, errorView{Heading: "No " + what + " yet", Message: "The session is ready but names no Secret; try again."}, http.StatusBadGateway
	}
	key := types.NamespacedName{Namespace: ss.Namespace, Name: ss.Status.SecretName}
	sec := &corev1.Secret{}
	c, err := s.kube.as(id)
	if err == nil {
		err = c.Get(ctx, key, sec)
	}
	if apierrors.IsForbidden(err) {
		if !s.cfg.SecretReadFallback {
			return nil, errorView{
				Heading: "Cannot read your " + what,
				Message: "Your session is ready, but Kubernetes RBAC does not let you read its Secret, which holds the " + what + ".",
				Hint:    "Ask your platform team to grant get on secrets in namespace " + ss.Namespace + " (or to turn on the portal's secret-read fallback).",
			}, http.StatusForbidden
		}
		sec = &corev1.Secret{}
		err = s.kube.own.Get(ctx, key, sec)
	}
	if err == nil && !ownedBy(sec, ss) {
		// Whoever reads it: only the Secret the session controls holds its URL.
		return nil, errorView{Heading: "Cannot read your " + what, Message: "The Secret the session names does not belong to it."}, http.StatusForbidden
	}
	if err != nil {
		s.log.Error(err, "reading a session's Secret", "namespace", ss.Namespace, "session", ss.Name)
		return nil, errorView{Heading: "Cannot read your " + what, Message: "The portal could not read the session's Secret. Try again."}, http.StatusBadGateway
	}
	return sec, errorView{}, 0
}

func ownedBy(sec *corev1.Secret, ss *accessv1alpha1.StreamingSession) bool {
	o := metav1.GetControllerOf(sec)
	return o != nil && o.UID == ss.UID && o.Kind == "StreamingSession"
}

// ---- my sessions ----

type sessionView struct {
	Namespace, Name, Group, Device, App, Via, WayIn, Phase, TimeLeft, BadgeClass string
	Live, Napter                                                                 bool
	created                                                                      time.Time
}

func humanDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh %dm", h, m)
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.person(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := ps.identity()
	var all accessv1alpha1.StreamingSessionList
	if err := s.kube.own.List(ctx, &all); err != nil {
		s.kubeDown(w, r, ps, err)
		return
	}
	var mine []*accessv1alpha1.StreamingSession
	nss := sets.New[string]()
	for i := range all.Items {
		if ss := &all.Items[i]; ss.Spec.UserID == id.User {
			mine = append(mine, ss)
			nss.Insert(ss.Namespace)
		}
	}
	allowed, err := s.kube.allowedNamespaces(ctx, id, sets.List(nss))
	if err != nil {
		s.kubeDown(w, r, ps, err)
		return
	}
	now := time.Now()
	var views []sessionView
	for _, ss := range mine {
		if !slices.Contains(allowed, ss.Namespace) {
			continue
		}
		g, d := deviceOf(ss)
		v := sessionView{Namespace: ss.Namespace, Name: ss.Name, Group: g, Device: d, App: ss.Spec.Application,
			Via: string(accessv1alpha1.ViaAppStream), WayIn: wayIn(ss), Napter: target.ViaNapter(ss),
			Phase: string(ss.Status.Phase), created: ss.CreationTimestamp.Time, BadgeClass: "neutral"}
		if v.Napter {
			v.Via = string(accessv1alpha1.ViaNapter)
		}
		switch ss.Status.Phase {
		case "", accessv1alpha1.SessionPending:
			v.Phase, v.Live, v.TimeLeft = string(accessv1alpha1.SessionPending), true, "waiting for a URL"
			if v.Napter {
				v.TimeLeft = "waiting for an endpoint"
			}
		case accessv1alpha1.SessionReady:
			v.Live, v.BadgeClass, v.TimeLeft = true, "ok", "not opened yet"
			switch t := napterEnds(ss); {
			case v.Napter && t != nil:
				v.TimeLeft = "endpoint open for " + humanDuration(t.Sub(now)) + " (until " + t.UTC().Format("15:04 UTC") + ")"
			case v.Napter:
				v.TimeLeft = "endpoint open"
			case ss.Status.URLExpiresAt != nil:
				v.TimeLeft = "URL valid for " + humanDuration(ss.Status.URLExpiresAt.Sub(now))
			}
		case accessv1alpha1.SessionActive:
			v.Live, v.BadgeClass, v.TimeLeft = true, "ok", "in use"
			if t := ss.Status.AccessEndsAt; t != nil {
				v.TimeLeft = humanDuration(t.Sub(now)) + " (until " + t.UTC().Format("15:04 UTC") + ")"
			}
		case accessv1alpha1.SessionFailed:
			v.BadgeClass, v.TimeLeft = "bad", "none: "+readyMessage(ss)
		default:
			v.TimeLeft = "none"
		}
		views = append(views, v)
	}
	sort.SliceStable(views, func(i, j int) bool { return views[i].created.After(views[j].created) })
	s.render(w, http.StatusOK, "sessions", ps, pageData{Title: "My sessions", Nav: "sessions", Data: struct{ Sessions []sessionView }{views}})
}

// end deletes the session as the person, which ends their AppStream session.
func (s *Server) end(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.person(w, r)
	if !ok || !s.checkForm(w, r, ps) {
		return
	}
	id := ps.identity()
	ss, err := s.ownSession(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if apierrors.IsNotFound(err) {
		http.Redirect(w, r, "/sessions", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.sessionError(w, r, ps, r.PathValue("ns"), err)
		return
	}
	g, d := deviceOf(ss)
	a := auditRec{Namespace: ss.Namespace, DeviceGroup: g, Device: d, Application: ss.Spec.Application, Session: ss.Name}
	c, err := s.kube.as(id)
	if err == nil {
		err = c.Delete(r.Context(), ss, client.Preconditions{UID: &ss.UID})
	}
	switch {
	case err == nil || apierrors.IsNotFound(err):
		a.Result = "deleted"
		s.metrics.ends.Inc()
		s.audit("end", id, a)
		http.Redirect(w, r, "/sessions", http.StatusSeeOther)
	case apierrors.IsForbidden(err):
		a.Result, a.Reason = resultDenied, apiMessage(err)
		s.audit("end", id, a)
		s.fail(w, r, ps, http.StatusForbidden, errorView{Heading: "Kubernetes refused", Message: "Kubernetes RBAC does not let you delete this session.", Detail: apiMessage(err), Hint: noAccessHint})
	default:
		a.Result, a.Reason = resultError, err.Error()
		s.audit("end", id, a)
		s.kubeDown(w, r, ps, err)
	}
}
