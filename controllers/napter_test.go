package controllers_test

// Napter as the second way in: the session controller against the real API
// server and the SORACOM emulator (over HTTP, on the test's fake clock), the
// endpoint checked by the emulator's packet walker from an allowed and a
// refused address.

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/emulator"
	soracomemu "github.com/gatestream/gatestream/internal/emulator/soracom"
)

// napterWorld is the session tests' world with the SORACOM emulator (the
// demo's SIMs and devices) behind the environment, and Napter enabled.
type napterWorld struct {
	*ssWorld
	cloud *emulator.Cloud
}

func newNapterWorld(t *testing.T) *napterWorld {
	w := newSSWorld(t)
	cloud, err := emulator.Start(emulator.Options{Clock: w.clk})
	w.must(err)
	t.Cleanup(func() { _ = cloud.Close() })
	seed, err := cloud.SeedDemo()
	w.must(err)
	w.must(env.Client.Create(w.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "soracom-auth"},
		StringData: map[string]string{clients.KeySoracomAuthKeyID: seed.SoracomAuthKeyID, clients.KeySoracomAuthKey: seed.SoracomAuthKey}}))
	var rae accessv1alpha1.RemoteAccessEnvironment
	w.must(env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: ssEnvName}, &rae))
	rae.Spec.Soracom.Endpoint = cloud.SoracomURL
	rae.Spec.Napter = &accessv1alpha1.NapterSpec{Enabled: true, AllowedSourceRanges: []string{"198.51.100.0/24", "203.0.113.0/24"}}
	w.must(env.Client.Update(w.ctx, &rae))
	return &napterWorld{ssWorld: w, cloud: cloud}
}

// napterSession is user's Napter session to raspi-1's SSH port, open to ranges.
func (w *napterWorld) napterSession(name, user string, ranges ...string) *accessv1alpha1.StreamingSession {
	port := intstr.FromString("ssh")
	return &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: ssEnvName},
			UserID:         user,
			Via:            accessv1alpha1.ViaNapter,
			Napter:         &accessv1alpha1.NapterAccess{SourceRanges: ranges},
			Target:         &accessv1alpha1.SessionTarget{DeviceGroup: ssGroupName, Device: "raspi-1", Port: &port},
			AccessWindow:   metav1.Duration{Duration: ssWindow},
			URLValidity:    metav1.Duration{Duration: ssValidity}, // unused by Napter; the Go type sends 0s otherwise
		},
	}
}

func (w *napterWorld) napterCalls(op string) int { return w.cloud.Faults.Count(soracomemu.API, op) }

// liveMappings are the emulator's port mappings that are neither deleted nor expired.
func (w *napterWorld) liveMappings() []soracomemu.PortMapping {
	var out []soracomemu.PortMapping
	for _, m := range w.cloud.Soracom.PortMappings() {
		if !m.Expired {
			out = append(out, m)
		}
	}
	return out
}

// reach walks a TCP connection from client to the session's endpoint, as the
// Secret gives it.
func (w *napterWorld) reach(sec *corev1.Secret, client string) (bool, string) {
	host := string(sec.Data[accessv1alpha1.SecretKeyHost])
	var port int
	if _, err := fmt.Sscanf(string(sec.Data[accessv1alpha1.SecretKeyPort]), "%d", &port); err != nil {
		w.t.Fatalf("Secret port %q: %v", sec.Data[accessv1alpha1.SecretKeyPort], err)
	}
	res := w.cloud.ReachNapter(netip.MustParseAddr(client), host, port)
	if res.Broken != nil {
		return res.Reachable, res.Broken.Kind + ": " + res.Broken.Reason
	}
	return res.Reachable, strings.Join(res.Hops, " → ")
}

// A Napter session as user-a: one port mapping to raspi-1's SSH port, open
// to user-a's range only (the walker connects from inside it and is refused
// from outside), its endpoint in the Secret; deleted on revocation.
func TestNapterSessionConnectsFromTheAllowedRangeOnly(t *testing.T) {
	w := newNapterWorld(t)
	w.start(nil)

	if err := w.user("user-a", ssTeamGroup).Create(w.ctx, w.napterSession("napter-a", "user-a", "198.51.100.0/24")); err != nil {
		t.Fatal(err)
	}
	s := w.waitPhase("napter-a", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonEndpointIssued)
	sec, err := w.urlSecret("napter-a")
	w.must(err)
	endpoint := string(sec.Data[accessv1alpha1.SecretKeyEndpoint])
	if endpoint == "" || s.Status.Napter == nil || s.Status.Napter.Endpoint != endpoint || len(sec.Data[accessv1alpha1.SecretKeyURL]) != 0 {
		t.Fatalf("Secret %v and status %+v: want the endpoint in both and no URL", sec.Data, s.Status.Napter)
	}
	if string(sec.Data[accessv1alpha1.SecretKeyTLS]) != "false" || string(sec.Data[accessv1alpha1.SecretKeyTarget]) != "10.128.3.7:22" {
		t.Fatalf("Secret tls %q target %q", sec.Data[accessv1alpha1.SecretKeyTLS], sec.Data[accessv1alpha1.SecretKeyTarget])
	}
	if n := w.napterCalls(soracomemu.OpCreatePortMappingForSim); n != 1 {
		t.Fatalf("%d port mappings created; want 1", n)
	}
	maps := w.liveMappings()
	if len(maps) != 1 || maps[0].Destination.SimID != "8981100000000000001" || maps[0].Destination.Port != 22 ||
		strings.Join(maps[0].Source.IPRanges, ",") != "198.51.100.0/24" {
		t.Fatalf("mappings %+v; want one to SIM 8981100000000000001 port 22 from 198.51.100.0/24", maps)
	}
	if ok, why := w.reach(sec, "198.51.100.7"); !ok {
		t.Fatalf("from the allowed range: not reachable: %s", why)
	}
	if ok, why := w.reach(sec, "203.0.113.9"); ok || !strings.Contains(why, "NapterSource") {
		t.Fatalf("from outside the range: reachable=%v (%s); want refused at the source check", ok, why)
	}
	if w.mints() != 0 {
		t.Fatalf("a Napter session minted %d streaming URLs", w.mints())
	}

	// Revoked: the mapping goes, and the endpoint refuses even the allowed range.
	if err := w.user("user-a", ssTeamGroup).Delete(w.ctx, s); err != nil {
		t.Fatal(err)
	}
	w.waitGone("napter-a")
	if n := w.napterCalls(soracomemu.OpDeletePortMapping); n != 1 {
		t.Fatalf("%d port mapping deletes; want 1", n)
	}
	if maps := w.liveMappings(); len(maps) != 0 {
		t.Fatalf("mappings left after revocation: %+v", maps)
	}
	if ok, why := w.reach(sec, "198.51.100.7"); ok || !strings.Contains(why, "NapterMapping") {
		t.Fatalf("after revocation: reachable=%v (%s); want no mapping", ok, why)
	}
	w.waitEvent("napter-a", accessv1alpha1.SessionReasonRevoked)
}

// At the end of the access window the mapping is deleted and the session Ended.
func TestNapterSessionEndsWithItsWindow(t *testing.T) {
	w := newNapterWorld(t)
	w.start(nil)
	s := w.napterSession("napter-window", "user-a", "203.0.113.0/24")
	s.Spec.AccessWindow = metav1.Duration{Duration: 10 * time.Minute}
	w.must(env.Client.Create(w.ctx, s))
	w.waitPhase("napter-window", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonEndpointIssued)
	if maps := w.liveMappings(); len(maps) != 1 || maps[0].Duration != 600 {
		t.Fatalf("mappings %+v; want one of 600 s (the access window)", maps)
	}
	w.step(10*time.Minute + time.Second)
	ended := w.waitPhase("napter-window", accessv1alpha1.SessionEnded, accessv1alpha1.SessionReasonAccessEnded)
	if ended.Status.Napter == nil || !ended.Status.Napter.Deleted {
		t.Fatalf("status.napter %+v: want the mapping recorded as deleted", ended.Status.Napter)
	}
	if n := w.napterCalls(soracomemu.OpDeletePortMapping); n != 1 {
		t.Fatalf("%d deletes at the end of the window; want 1", n)
	}
	if maps := w.liveMappings(); len(maps) != 0 {
		t.Fatalf("mappings left after the window: %+v", maps)
	}
}

// What Napter cannot serve fails with a reason, before any SORACOM call.
func TestNapterSessionRefusals(t *testing.T) {
	w := newNapterWorld(t)
	w.start(nil)
	outside := w.napterSession("napter-outside", "user-a", "192.0.2.0/24")
	w.must(env.Client.Create(w.ctx, outside))
	w.waitPhase("napter-outside", accessv1alpha1.SessionFailed, accessv1alpha1.SessionReasonSourceRangeNotAllowed)

	// plc-7 sits behind the cellular router, which forwards its port 80 (the
	// sample's routerPort 8080) but no port to plc-7's 22.
	behind := w.napterSession("napter-plc", "user-a", "198.51.100.0/24")
	port := intstr.FromInt32(22)
	behind.Spec.Target = &accessv1alpha1.SessionTarget{DeviceGroup: ssGroupName, Device: "plc-7", Port: &port}
	w.must(env.Client.Create(w.ctx, behind))
	failed := w.waitPhase("napter-plc", accessv1alpha1.SessionFailed, accessv1alpha1.SessionReasonNapterNeedsPortForward)
	if c := failed.Status.Conditions[0]; !strings.Contains(c.Message, "routerPort") {
		t.Fatalf("message %q does not say what to set", c.Message)
	}

	var rae accessv1alpha1.RemoteAccessEnvironment
	w.must(env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: ssEnvName}, &rae))
	rae.Spec.Napter.Enabled = false
	w.must(env.Client.Update(w.ctx, &rae))
	w.must(env.Client.Create(w.ctx, w.napterSession("napter-off", "user-a", "198.51.100.0/24")))
	w.waitPhase("napter-off", accessv1alpha1.SessionFailed, accessv1alpha1.SessionReasonNapterNotEnabled)

	if n := w.napterCalls(soracomemu.OpCreatePortMappingForSim) + w.napterCalls(soracomemu.OpListPortMappingsForSim); n != 0 {
		t.Fatalf("%d Napter calls for sessions that cannot be served", n)
	}
}

// The admission policy applies to Napter sessions as to any: user-b cannot
// open a mapping in user-a's name.
func TestNapterSessionAdmission(t *testing.T) {
	w := newNapterWorld(t)
	installAdmission(t, w.ssWorld)
	err := w.user("user-b", ssTeamGroup).Create(w.ctx, w.napterSession("napter-for-a", "user-a", "198.51.100.0/24"))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `spec.userId must be your own username "user-b", not "user-a"`) {
		t.Fatalf("user-b creating a Napter session for user-a: %v", err)
	}
	if err := w.user("user-a", ssTeamGroup).Create(w.ctx, w.napterSession("napter-own", "user-a", "198.51.100.0/24"), client.DryRunAll); err != nil {
		t.Fatalf("user-a creating her own Napter session: %v", err)
	}
}
