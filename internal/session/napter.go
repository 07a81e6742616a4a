package session

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/session/target"
	"github.com/gatestream/gatestream/internal/soracom"
)

// A session with via: Napter gets a SORACOM Napter port mapping instead of a
// streaming URL: a global address and port that forwards TCP to the
// device's port (on its SIM, or through its cellular router's port forward),
// open to spec.napter.sourceRanges, for the access window. Its Secret holds
// the endpoint. The mapping is deleted at the end of the window and when the
// session is deleted (Revoked); SORACOM also deletes it when its duration,
// the window, runs out.

// NapterTarget is where a Napter session's mapping leads.
type NapterTarget struct {
	// SIMID and Port: the device's SIM and port, or its router's SIM and the
	// router port that forwards to the device.
	SIMID string
	Port  int32
	// ViaRouter: Port is a router's port forward (DNAT) to the device.
	ViaRouter bool
}

// NapterRequest is one port mapping to make.
type NapterRequest struct {
	NapterTarget
	Duration     time.Duration
	SourceRanges []string
	TLS          bool
}

// NapterAPI is what a Napter session calls (a *soracom.Client).
type NapterAPI interface {
	CreatePortMappingForSIM(ctx context.Context, simID string, in soracom.PortMappingRequest) (*soracom.PortMapping, error)
	ListPortMappingsForSIM(ctx context.Context, simID string) ([]soracom.PortMapping, error)
	DeletePortMapping(ctx context.Context, ipAddress string, port int) error
}

// ResolveNapter resolves a Napter session: the environment must allow Napter
// (and the source ranges), the target device must be online, and a device
// behind a cellular router needs the router port that forwards to it. The
// fleet plays no part: neither the environment's readiness nor its path
// check from the fleet matter.
func ResolveNapter(s *accessv1alpha1.StreamingSession, env *accessv1alpha1.RemoteAccessEnvironment, dg *accessv1alpha1.DeviceGroup) Resolution {
	name := s.Spec.EnvironmentRef.Name
	if env == nil {
		return wait(accessv1alpha1.SessionReasonEnvironmentNotFound, "waiting for RemoteAccessEnvironment %q in namespace %s", name, s.Namespace)
	}
	if !target.NapterEnabled(env) {
		return fail(accessv1alpha1.SessionReasonNapterNotEnabled,
			"RemoteAccessEnvironment %q does not allow Napter sessions (spec.napter.enabled is not true); connect via AppStream, or ask its owners to enable Napter", name)
	}
	if why := outsideAllowed(sessionRanges(s), env.Spec.Napter.AllowedSourceRanges); why != "" {
		return fail(accessv1alpha1.SessionReasonSourceRangeNotAllowed, "%s", why)
	}
	t := s.Spec.Target
	if dg == nil {
		return wait(accessv1alpha1.SessionReasonDeviceGroupNotFound, "waiting for DeviceGroup %q in namespace %s", t.DeviceGroup, s.Namespace)
	}
	if dg.Spec.EnvironmentRef.Name != name {
		return fail(accessv1alpha1.SessionReasonDeviceGroupNotInEnvironment,
			"DeviceGroup %q belongs to RemoteAccessEnvironment %q, not %q", t.DeviceGroup, dg.Spec.EnvironmentRef.Name, name)
	}
	dev, err := target.FindDevice([]accessv1alpha1.DeviceGroup{*dg}, t.Device, dg.Name)
	if err != nil {
		return fail(accessv1alpha1.SessionReasonDeviceNotFound, "%v", err)
	}
	port, err := dev.Port(t.Port)
	if err != nil {
		return fail(accessv1alpha1.SessionReasonPortNotFound, "%v", err)
	}
	nt := NapterTarget{SIMID: dev.Spec.SIMID, Port: port}
	if dev.Spec.Address != "" {
		// Behind a cellular router: Napter reaches the router's SIM only.
		fwd, ok := routerPort(dev.Spec, t.Port, port)
		if !ok {
			return fail(accessv1alpha1.SessionReasonNapterNeedsPortForward,
				"device %q is behind the cellular router of SIM %s and Napter reaches only the router: DeviceGroup %q names no router port that forwards (DNAT) to port %d; "+
					"set ports[].routerPort for that port (and the forward on the router), or connect via AppStream",
				t.Device, dev.Spec.SIMID, t.DeviceGroup, port)
		}
		nt.Port, nt.ViaRouter = fwd, true
	}
	if !dev.Online() {
		return wait(accessv1alpha1.SessionReasonDeviceOffline,
			"waiting for device %q of DeviceGroup %q to come online (its SIM has no session)", t.Device, t.DeviceGroup)
	}
	res := Resolution{Outcome: Resolved, Limits: limitsOf(env), Napter: &nt}
	if addr := dev.Address(); addr != "" {
		res.Target = &accessv1alpha1.ResolvedTarget{Address: addr, Port: port}
	}
	return res
}

// routerPort is the router port that forwards to the device's port.
func routerPort(d *accessv1alpha1.Device, asked *intstr.IntOrString, port int32) (int32, bool) {
	for _, p := range d.Ports {
		if p.RouterPort > 0 && (p.Port == port || (asked != nil && asked.Type == intstr.String && p.Name == asked.StrVal)) {
			return p.RouterPort, true
		}
	}
	return 0, false
}

func sessionRanges(s *accessv1alpha1.StreamingSession) []string {
	if s.Spec.Napter == nil {
		return nil
	}
	return s.Spec.Napter.SourceRanges
}

// outsideAllowed says which of ranges lies outside allowed ("" when all
// are inside, or nothing is restricted).
func outsideAllowed(ranges, allowed []string) string {
	if r, out := target.RangeOutside(ranges, allowed); out {
		return fmt.Sprintf("napter.sourceRanges %s is outside the environment's spec.napter.allowedSourceRanges (%v): ask for a range inside them", r, allowed)
	}
	return ""
}

// napter decides for a Napter session.
func (d *decision) napter() Step {
	s, st, now := d.s, &d.s.Status, d.in.Now
	mapped := st.Napter != nil && st.Napter.Endpoint != ""
	switch {
	case !s.DeletionTimestamp.IsZero():
		if !mapped && d.in.Secret.HoldsURL() && d.in.Secret.Endpoint != "" {
			// The mapping is in the Secret but its status was not read yet
			// (written just now, or lost): delete what the Secret names.
			st.Napter = &accessv1alpha1.NapterStatus{Endpoint: d.in.Secret.Endpoint}
			mapped = true
		}
		if mapped && !st.Napter.Deleted {
			if !Finished(st.Phase) {
				d.set(accessv1alpha1.SessionRevoked, false, accessv1alpha1.SessionReasonRevoked,
					"the session was deleted; its Napter endpoint %s was deleted", st.Napter.Endpoint)
				d.emit(corev1.EventTypeNormal)
			}
			step := d.step(StepUnmapPort)
			step.Continue, step.At = true, time.Time{}
			return step
		}
		// Nothing of a Napter session is on AppStream: release it.
		if !controllerutil.ContainsFinalizer(s, accessv1alpha1.StreamingSessionFinalizer) {
			return Step{Action: StepWait, Status: *st}
		}
		return Step{Action: StepRelease, Status: *st}
	case Finished(st.Phase):
		if mapped && !st.Napter.Deleted { // finished, the mapping not yet deleted (a failed delete)
			return d.step(StepUnmapPort)
		}
		return d.finished()
	case !mapped:
		return d.mapPort()
	case st.Napter.Deleted:
		// Recorded as deleted, yet not finished (a status written by hand or
		// by an interrupted pass): no endpoint is left to be Ready with.
		d.set(accessv1alpha1.SessionEnded, false, accessv1alpha1.SessionReasonAccessEnded,
			"Napter endpoint %s was deleted; create a new session for more access", st.Napter.Endpoint)
		d.emit(corev1.EventTypeNormal)
		return d.step(StepWait)
	}
	if !now.Before(st.AccessEndsAt.Time) {
		d.set(accessv1alpha1.SessionEnded, false, accessv1alpha1.SessionReasonAccessEnded,
			"the access window ended at %s; Napter endpoint %s was deleted", rfc3339(st.AccessEndsAt.Time), st.Napter.Endpoint)
		d.emit(corev1.EventTypeNormal)
		return d.step(StepUnmapPort)
	}
	d.set(accessv1alpha1.SessionReady, true, accessv1alpha1.SessionReasonEndpointIssued, "%s", napterReadyMessage(s))
	if sec := d.in.Secret; !sec.Exists || !sec.InSync {
		return d.step(StepRepairSecret)
	}
	return d.step(StepWait)
}

// mapPort decides for a Napter session without a mapping.
func (d *decision) mapPort() Step {
	s, st := d.s, &d.s.Status
	if step, blocked := d.blocked(); blocked {
		return step
	}
	res := d.in.Resolution
	st.SecretName, st.Target = SecretName(s), res.Target
	d.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonMinting, "making a Napter port mapping")
	step := d.step(StepMapPort)
	step.At = time.Time{}
	step.Map = NapterRequest{NapterTarget: *res.Napter, Duration: AccessWindow(&s.Spec),
		SourceRanges: slices.Clone(s.Spec.Napter.SourceRanges), TLS: s.Spec.Napter.TLS}
	return step
}

func napterReadyMessage(s *accessv1alpha1.StreamingSession) string {
	st := s.Status.Napter
	scheme := "TCP"
	if s.Spec.Napter.TLS {
		scheme = "TLS"
	}
	via := fmt.Sprintf("port %d of SIM %s", st.Port, st.SIMID)
	if s.Spec.Target != nil {
		via = fmt.Sprintf("device %s (%s)", s.Spec.Target.Device, via)
	}
	return fmt.Sprintf("the Napter endpoint for user %s is in Secret %s (keys %s, %s, %s): %s to %s, open to %v until %s; the device's SIM was online when it was made",
		s.Spec.UserID, s.Status.SecretName, accessv1alpha1.SecretKeyEndpoint, accessv1alpha1.SecretKeyHost, accessv1alpha1.SecretKeyPort,
		scheme, via, s.Spec.Napter.SourceRanges, rfc3339(s.Status.AccessEndsAt.Time))
}

// NapterData is what a Napter session's Secret holds, from its status.
func NapterData(s *accessv1alpha1.StreamingSession) map[string][]byte {
	st := s.Status.Napter
	host, port := napterHostPort(st)
	data := map[string][]byte{
		accessv1alpha1.SecretKeyEndpoint:  []byte(st.Endpoint),
		accessv1alpha1.SecretKeyHost:      []byte(host),
		accessv1alpha1.SecretKeyPort:      []byte(port),
		accessv1alpha1.SecretKeyTLS:       []byte(strconv.FormatBool(s.Spec.Napter.TLS)),
		accessv1alpha1.SecretKeyExpiresAt: []byte(FormatExpiresAt(timeOf(s.Status.AccessEndsAt))),
	}
	if t := TargetString(s.Status.Target); t != "" {
		data[accessv1alpha1.SecretKeyTarget] = []byte(t)
	}
	return data
}

func napterHostPort(st *accessv1alpha1.NapterStatus) (string, string) {
	ap, err := netip.ParseAddrPort(st.Endpoint)
	host := st.Hostname
	if err != nil {
		return host, ""
	}
	if host == "" {
		host = ap.Addr().String()
	}
	return host, strconv.Itoa(int(ap.Port()))
}

// napterInSync reports whether sec holds what NapterData says.
func napterInSync(sec *corev1.Secret, s *accessv1alpha1.StreamingSession) bool {
	if !ControlledBy(sec, s) || sec.Type != corev1.SecretTypeOpaque || !InSync(sec, s, timeOf(s.Status.AccessEndsAt), TargetString(s.Status.Target)) {
		return false
	}
	for k, v := range NapterData(s) {
		if string(sec.Data[k]) != string(v) {
			return false
		}
	}
	return true
}

// writeNapterSecret creates or repairs the session's Secret with its endpoint.
func (u Secrets) writeNapterSecret(ctx context.Context, s *accessv1alpha1.StreamingSession, cur *corev1.Secret) error {
	if cur == nil {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: SecretName(s), Namespace: s.Namespace}, Type: corev1.SecretTypeOpaque}
		fillNapter(sec, s)
		return u.createOrConflict(ctx, s, sec)
	}
	if !ControlledBy(cur, s) {
		return errors.New(SecretConflictMessage(s))
	}
	sec := cur.DeepCopy()
	fillNapter(sec, s)
	return u.update(ctx, sec)
}

func fillNapter(sec *corev1.Secret, s *accessv1alpha1.StreamingSession) {
	fill(sec, s, "", timeOf(s.Status.AccessEndsAt), TargetString(s.Status.Target))
	maps.Copy(sec.Data, NapterData(s))
}

// MapPort carries out a StepMapPort: it adopts a mapping that an earlier pass
// made for this session and lost the answer of (same SIM, port and source
// ranges, made after the session, claimed by no other session), or makes one,
// then writes the Secret with the endpoint and returns the issued step.
func MapPort(ctx context.Context, api NapterAPI, secrets Secrets, s *accessv1alpha1.StreamingSession, step Step, now time.Time, claimed func(endpoint string) bool) (Step, error) {
	log := logf.FromContext(ctx)
	req := step.Map
	existing, err := api.ListPortMappingsForSIM(ctx, req.SIMID)
	if err != nil {
		return step, fmt.Errorf("listing the Napter mappings of SIM %s: %w", req.SIMID, err)
	}
	var m *soracom.PortMapping
	for i := range existing {
		e := &existing[i]
		if e.Destination.Port == int(req.Port) && sameRanges(e.Source.IPRanges, req.SourceRanges) && e.TLSRequired == req.TLS &&
			!e.CreatedTime.Before(s.CreationTimestamp.Time.Add(-time.Second)) && !e.Expired && !claimed(e.Endpoint) {
			m = e
			log.Info("adopting the Napter mapping an earlier pass made (its answer was lost)", "endpoint", e.Endpoint)
			break
		}
	}
	if m == nil {
		if m, err = api.CreatePortMappingForSIM(ctx, req.SIMID, soracom.PortMappingRequest{Port: int(req.Port), Service: soracom.NapterServiceAir,
			Duration: req.Duration, SourceRanges: req.SourceRanges, TLSRequired: req.TLS}); err != nil {
			return step, fmt.Errorf("creating a Napter mapping to port %d of SIM %s: %w", req.Port, req.SIMID, err)
		}
	}
	st := step.Status
	expires := m.ExpiredTime
	if expires.IsZero() {
		expires = now.Add(req.Duration)
	}
	st.Napter = &accessv1alpha1.NapterStatus{Endpoint: endpointOf(m), Hostname: m.Hostname, SIMID: req.SIMID, Port: req.Port,
		ExpiresAt: &metav1.Time{Time: FloorSecond(expires)}}
	st.AccessEndsAt = &metav1.Time{Time: FloorSecond(expires)}
	st.URLExpiresAt = st.AccessEndsAt.DeepCopy()
	st.SecretName = SecretName(s)
	issued := s.DeepCopy()
	issued.Status = st
	if err := secrets.writeNapterSecret(ctx, issued, nil); err != nil {
		// The mapping is recorded nowhere yet: the next pass adopts it.
		return step, err
	}
	d := newDecision(issued, st, Input{Session: issued, Now: now})
	d.set(accessv1alpha1.SessionReady, true, accessv1alpha1.SessionReasonEndpointIssued, "%s", napterReadyMessage(issued))
	out := d.step(StepWait)
	out.Event = nil
	log.V(1).Info("Napter endpoint issued", "secret", st.SecretName, "sim", req.SIMID, "port", req.Port, "expiresAt", expires)
	return out, nil
}

func endpointOf(m *soracom.PortMapping) string {
	if m.Endpoint != "" {
		return m.Endpoint
	}
	return fmt.Sprintf("%s:%d", m.IPAddress, m.Port)
}

func sameRanges(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// Unmap deletes the session's mapping (gone is deleted) and records it.
func Unmap(ctx context.Context, api NapterAPI, step Step) (Step, error) {
	st := step.Status.Napter
	if st == nil || st.Endpoint == "" || st.Deleted {
		return step, nil
	}
	ap, err := netip.ParseAddrPort(st.Endpoint)
	if err != nil {
		return step, fmt.Errorf("the recorded Napter endpoint %q is not ip:port: %w", st.Endpoint, err)
	}
	if err := api.DeletePortMapping(ctx, ap.Addr().String(), int(ap.Port())); err != nil && !soracom.IsNotFound(err) {
		return step, fmt.Errorf("deleting Napter mapping %s: %w", st.Endpoint, err)
	}
	step.Status = *step.Status.DeepCopy()
	step.Status.Napter.Deleted = true
	logf.FromContext(ctx).Info("Napter mapping deleted", "endpoint", st.Endpoint)
	return step, nil
}
