package controllers_test

// Helpers of the DeviceGroup tests: a SORACOM emulator served over real HTTP,
// a namespace with the credentials Secret and a RemoteAccessEnvironment whose
// status is set by hand (its own controller does not run here), and the
// DeviceGroupReconciler in a manager against the real API server.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/controllers"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/soracom"
	"github.com/gatestream/gatestream/internal/testenv"
)

const (
	dgOperator  = "OP0012345678"
	dgKeyID     = "keyId-devicegroup-test"
	dgKey       = "secret-devicegroup-test-key"
	dgEnvName   = "factory-floor"
	dgSecret    = "soracom-auth"
	dgWaitLimit = 20 * time.Second
)

// dgWriteOps are the SORACOM calls that change something.
var dgWriteOps = []string{
	emu.OpCreateGroup, emu.OpDeleteGroup, emu.OpPutGroupTags, emu.OpDeleteGroupTag, emu.OpPutGroupConfig,
	emu.OpDeleteGroupNamespace, emu.OpDeleteGroupConfigKey, emu.OpSetSimGroup, emu.OpUnsetSimGroup,
	emu.OpDeleteSession, emu.OpEnableSimBasedRouting, emu.OpDisableSimBasedRouting, emu.OpPutSimBasedRoutes,
	emu.OpCreateVPG, emu.OpTerminateVPG,
}

type dgWorldOptions struct {
	// PageSize of the emulator's lists (default 100).
	PageSize int
	// PollInterval of the reconciler (default 5 min: only changes and the
	// watch trigger passes).
	PollInterval time.Duration
	// EnvNotReady leaves the environment's Ready condition False.
	EnvNotReady bool
	// NoController starts the manager with the DeviceGroup indexes only; the
	// test calls Reconcile itself (see dgWorld.reconcile).
	NoController bool
}

type dgWorld struct {
	t      testing.TB
	ctx    context.Context
	srv    *emu.Server
	faults *fault.Injector
	sc     *soracom.Client
	ns     string
	vpgID  string
	mgr    *manager.Manager
	r      *controllers.DeviceGroupReconciler
}

func newDGWorld(t testing.TB, o dgWorldOptions) *dgWorld {
	t.Helper()
	if o.PollInterval == 0 {
		o.PollInterval = 5 * time.Minute
	}
	w := &dgWorld{t: t, ctx: context.Background(), faults: fault.New(1)}
	w.srv = emu.New(emu.Options{Faults: w.faults, PageSize: o.PageSize})
	w.srv.AddOperator(dgOperator, dgKeyID, dgKey)
	ts := httptest.NewServer(w.srv.Handler())
	t.Cleanup(ts.Close)
	sc, err := soracom.New(soracom.Options{Endpoint: ts.URL, Credentials: soracom.Credentials{AuthKeyID: dgKeyID, AuthKey: dgKey}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.sc = sc
	vpg, err := sc.CreateVirtualPrivateGateway(w.ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF, DeviceSubnetCIDRRange: "10.128.0.0/9"})
	if err != nil {
		t.Fatal(err)
	}
	w.vpgID = vpg.VPGID
	// The environment opens Gate before any DeviceGroup uses the gateway
	// (SORACOM refuses SIM-based routing on a closed Gate).
	if err := sc.OpenGate(w.ctx, vpg.VPGID, 10, true); err != nil {
		t.Fatal(err)
	}

	c := env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "dg-"}}
	w.must(c.Create(w.ctx, ns))
	w.ns = ns.Name
	// Runs after the manager stopped (cleanups run last-registered first):
	// leave nothing behind for the managers of later tests.
	t.Cleanup(w.cleanUpNamespace)
	w.must(c.Create(w.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: dgSecret},
		StringData: map[string]string{clients.KeySoracomAuthKeyID: dgKeyID, clients.KeySoracomAuthKey: dgKey},
	}))

	// The environment, from the sample, pointed at the emulator; its status by hand.
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "samples", "access_v1alpha1_remoteaccessenvironment.yaml"))
	w.must(err)
	rae := &accessv1alpha1.RemoteAccessEnvironment{}
	w.must(yaml.Unmarshal(data, rae))
	rae.Namespace, rae.Name = w.ns, dgEnvName
	rae.Spec.Soracom.Endpoint = ts.URL
	rae.Spec.Soracom.CredentialsSecretRef.Name = dgSecret
	w.must(c.Create(w.ctx, rae))
	w.setEnvReady(!o.EnvNotReady)

	mopts := manager.DefaultOptions()
	mopts.WatchNamespaces = []string{w.ns}
	w.mgr = testenv.RunManager(t, env, mopts, func(m *manager.Manager) error {
		w.r = &controllers.DeviceGroupReconciler{
			Client:             m.GetClient(),
			Clients:            clients.New(m.GetAPIReader(), clients.Options{SoracomCallsPerSecond: 1e6, AllowedEndpoints: emulatorEndpoints}),
			Recorder:           m.GetEventRecorder("gatestream-devicegroup"),
			PollInterval:       o.PollInterval,
			SkipNameValidation: true,
		}
		if o.NoController {
			return controllers.IndexDeviceGroupFields(w.ctx, m)
		}
		return w.r.SetupWithManager(m)
	})
	return w
}

// cleanUpNamespace deletes the test's DeviceGroups (dropping their
// finalizers: no controller runs any more) and environments.
func (w *dgWorld) cleanUpNamespace() {
	var dgs accessv1alpha1.DeviceGroupList
	if err := env.Client.List(w.ctx, &dgs, client.InNamespace(w.ns)); err != nil {
		w.t.Errorf("listing DeviceGroups: %v", err)
		return
	}
	for i := range dgs.Items {
		dg := &dgs.Items[i]
		if controllerutil.RemoveFinalizer(dg, accessv1alpha1.Finalizer) {
			if err := env.Client.Update(w.ctx, dg); client.IgnoreNotFound(err) != nil {
				w.t.Errorf("removing finalizer of %s: %v", dg.Name, err)
			}
		}
		_ = client.IgnoreNotFound(env.Client.Delete(w.ctx, dg))
	}
	_ = env.Client.DeleteAllOf(w.ctx, &accessv1alpha1.RemoteAccessEnvironment{}, client.InNamespace(w.ns))
}

func (w *dgWorld) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// setEnvReady sets the environment's status as its controller would: the gateway id and Ready.
func (w *dgWorld) setEnvReady(ready bool) {
	w.t.Helper()
	var rae accessv1alpha1.RemoteAccessEnvironment
	w.must(env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: dgEnvName}, &rae))
	rae.Status.Gateway = &accessv1alpha1.GatewayStatus{ID: w.vpgID, Status: "running", GateOpened: true}
	status, reason := metav1.ConditionTrue, accessv1alpha1.ReasonAvailable
	if !ready {
		status, reason = metav1.ConditionFalse, accessv1alpha1.ReasonFleetStarting
	}
	meta.SetStatusCondition(&rae.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: status, Reason: reason, Message: "set by the test", ObservedGeneration: rae.Generation})
	w.must(env.Client.Status().Update(w.ctx, &rae))
}

func (w *dgWorld) addSIM(id string, online bool, tags map[string]string) {
	w.srv.AddSIM(emu.SIM{ID: id, IMSI: "44010" + id[len(id)-10:], Online: online, Tags: tags})
}

func (w *dgWorld) sim(id string) emu.SIM {
	w.t.Helper()
	s, ok := w.srv.SIM(id)
	if !ok {
		w.t.Fatalf("SIM %s not in the emulator", id)
	}
	return s
}

func (w *dgWorld) newDG(name string, spec accessv1alpha1.DeviceGroupSpec) *accessv1alpha1.DeviceGroup {
	w.t.Helper()
	if spec.EnvironmentRef.Name == "" {
		spec.EnvironmentRef.Name = dgEnvName
	}
	dg := &accessv1alpha1.DeviceGroup{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}, Spec: spec}
	w.must(env.Client.Create(w.ctx, dg))
	return dg
}

func (w *dgWorld) getDG(name string) *accessv1alpha1.DeviceGroup {
	w.t.Helper()
	var dg accessv1alpha1.DeviceGroup
	w.must(env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: name}, &dg))
	return &dg
}

// updateDG applies change to the latest copy, retrying on conflicts.
func (w *dgWorld) updateDG(name string, change func(dg *accessv1alpha1.DeviceGroup)) *accessv1alpha1.DeviceGroup {
	w.t.Helper()
	var out *accessv1alpha1.DeviceGroup
	w.eventually("updating DeviceGroup "+name, func() (bool, string) {
		dg := w.getDG(name)
		change(dg)
		err := env.Client.Update(w.ctx, dg)
		if apierrors.IsConflict(err) {
			return false, err.Error()
		}
		w.must(err)
		out = dg
		return true, ""
	})
	return out
}

// eventually polls cond (bounded, no sleeps in the tests themselves).
func (w *dgWorld) eventually(what string, cond func() (bool, string)) {
	w.t.Helper()
	last := ""
	err := wait.PollUntilContextTimeout(w.ctx, 50*time.Millisecond, dgWaitLimit, true, func(context.Context) (bool, error) {
		ok, why := cond()
		last = why
		return ok, nil
	})
	if err != nil {
		w.t.Fatalf("%s: not reached within %s: %s", what, dgWaitLimit, last)
	}
}

func dgCondString(dg *accessv1alpha1.DeviceGroup) string {
	var parts []string
	for _, c := range dg.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s(%s) gen %d", c.Type, c.Status, c.Reason, c.Message, c.ObservedGeneration))
	}
	return fmt.Sprintf("generation %d observed %d: %s", dg.Generation, dg.Status.ObservedGeneration, strings.Join(parts, "; "))
}

// waitCondition waits until the DeviceGroup's current generation has the condition with status and reason.
func (w *dgWorld) waitCondition(name, typ string, status metav1.ConditionStatus, reason string) *accessv1alpha1.DeviceGroup {
	w.t.Helper()
	var dg *accessv1alpha1.DeviceGroup
	w.eventually(fmt.Sprintf("%s %s=%s/%s", name, typ, status, reason), func() (bool, string) {
		dg = w.getDG(name)
		c := meta.FindStatusCondition(dg.Status.Conditions, typ)
		ok := c != nil && c.Status == status && (reason == "" || c.Reason == reason) &&
			c.ObservedGeneration == dg.Generation && dg.Status.ObservedGeneration == dg.Generation
		return ok, dgCondString(dg)
	})
	return dg
}

func (w *dgWorld) waitReady(name string) *accessv1alpha1.DeviceGroup {
	w.t.Helper()
	return w.waitCondition(name, accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonAvailable)
}

// mark is a point in the emulator's call log.
func (w *dgWorld) mark() int { return len(w.faults.Calls(emu.API, fault.Any)) }

// callsSince counts the calls by operation since a mark.
func (w *dgWorld) callsSince(mark int) map[string]int {
	out := map[string]int{}
	for _, c := range w.faults.Calls(emu.API, fault.Any)[mark:] {
		out[c.Op]++
	}
	return out
}

// writesSince counts the write calls by operation since a mark.
func (w *dgWorld) writesSince(mark int) map[string]int {
	all := w.callsSince(mark)
	out := map[string]int{}
	for _, op := range dgWriteOps {
		if n := all[op]; n > 0 {
			out[op] = n
		}
	}
	return out
}

func assertDGCalls(t testing.TB, what string, got, want map[string]int) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var diffs []string
	for k := range keys {
		if got[k] != want[k] {
			diffs = append(diffs, fmt.Sprintf("%s: got %d, want %d", k, got[k], want[k]))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%s: unexpected SORACOM calls: %s (all: %v)", what, strings.Join(diffs, "; "), got)
	}
}

// groupAir returns the group's SoracomAir useVpg and vpgId as raw JSON.
func (w *dgWorld) groupAir(groupID string) (string, string) {
	w.t.Helper()
	g, ok := w.srv.Group(groupID)
	if !ok {
		w.t.Fatalf("group %s not in the emulator", groupID)
	}
	air := g.Configuration[soracom.NamespaceSoracomAir]
	return string(air[soracom.KeyUseVPG]), string(air[soracom.KeyVPGID])
}

func (w *dgWorld) routes() map[string]string {
	w.t.Helper()
	v, ok := w.srv.VPG(w.vpgID)
	if !ok {
		w.t.Fatalf("VPG %s not in the emulator", w.vpgID)
	}
	return v.SimBasedRoutingConfig
}

// reconcile calls the reconciler directly (NoController worlds), after the
// manager's cache has caught up with the API server, so that each call is
// exactly one pass over the latest object.
// The cache is also brought up to date for the DeviceGroups named in sync
// (those the pass reads through the field index).
func (w *dgWorld) reconcile(name string, sync ...string) ctrl.Result {
	w.t.Helper()
	for _, n := range append([]string{name}, sync...) {
		key := types.NamespacedName{Namespace: w.ns, Name: n}
		latest := w.getDG(n).ResourceVersion
		w.eventually("cache catching up", func() (bool, string) {
			var cached accessv1alpha1.DeviceGroup
			if err := w.mgr.GetClient().Get(w.ctx, key, &cached); err != nil {
				return false, err.Error()
			}
			return cached.ResourceVersion == latest, "cached " + cached.ResourceVersion + " latest " + latest
		})
	}
	key := types.NamespacedName{Namespace: w.ns, Name: name}
	res, err := w.r.Reconcile(w.ctx, ctrl.Request{NamespacedName: key})
	if err != nil {
		w.t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (w *dgWorld) waitGone(name string) {
	w.t.Helper()
	w.eventually("DeviceGroup "+name+" gone", func() (bool, string) {
		var dg accessv1alpha1.DeviceGroup
		err := env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: name}, &dg)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, dgCondString(&dg)
	})
}

func (w *dgWorld) deleteDG(name string) {
	w.t.Helper()
	w.must(env.Client.Delete(w.ctx, &accessv1alpha1.DeviceGroup{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}}))
}

func dgDevice(dg *accessv1alpha1.DeviceGroup, name string) (accessv1alpha1.DeviceStatus, bool) {
	for _, d := range dg.Status.Devices {
		if d.Name == name {
			return d, true
		}
	}
	return accessv1alpha1.DeviceStatus{}, false
}

func dgContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
