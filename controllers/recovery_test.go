package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/testenv"
)

// creates are the calls that make a billable or owned external object.
var creates = []string{"createVirtualPrivateGateway", "createVpcPeeringConnection", "createGroup", "CreateFleet", "CreateStack", "RunInstances"}

// TestDisasterRecoveryAdoptsByStableIdentity: a platform team loses its
// cluster and re-applies the same manifests from Git into a new one (fresh
// etcd: new UIDs, no status). A manager with the same --cluster-name adopts
// every external object (zero creates) and everything is Ready again; a
// manager with another cluster name touches none of them and says so; and
// deleting in the rebuilt cluster leaves nothing behind.
func TestDisasterRecoveryAdoptsByStableIdentity(t *testing.T) {
	cloud, err := emulator.Start(emulator.Options{VPGCreateDelay: 300 * time.Millisecond, VPGTerminateDelay: 300 * time.Millisecond, FleetStartDelay: 500 * time.Millisecond,
		FleetStopDelay: 200 * time.Millisecond, InstanceStartDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cloud.Close() })
	seed, err := cloud.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	const ns = "line-a"
	dr := &recovery{t: t, cloud: cloud, seed: seed, ns: ns}

	// The first cluster builds everything, first without a cluster name (as
	// before the flag existed), then named: its objects get the identity tag.
	// Then it is lost (its manager stops; its etcd is never seen again).
	var before worldOf
	t.Run("first cluster", func(t *testing.T) {
		e := dr.controlPlane(t)
		t.Run("without a cluster name", func(t *testing.T) {
			dr.manager(t, e, "")
			dr.apply(t, e)
			dr.waitReady(t, e)
		})
		t.Run("named", func(t *testing.T) {
			dr.manager(t, e, "prod")
			testenv.Eventually(t, 60*time.Second, "the objects tagged with the identity", func() error {
				if id := dr.env(t, e).Status.Identity; id != "prod/RemoteAccessEnvironment/line-a/factory-floor" {
					return fmt.Errorf("status.identity %q", id)
				}
				return nil
			})
			dr.waitReady(t, e)
		})
		before = dr.snapshot(t, e)
	})
	if n := cloud.Soracom.VPGsEverCreated(); n != 1 {
		t.Fatalf("the first cluster created %d VPGs", n)
	}

	// Another cluster name, same manifests: nothing of the first cluster's
	// is touched, and the conflict is reported.
	t.Run("another cluster name", func(t *testing.T) {
		e := dr.controlPlane(t)
		dr.manager(t, e, "staging")
		dr.apply(t, e)
		testenv.Eventually(t, 60*time.Second, "the stack reported as another cluster's", func() error {
			return wantCondition(dr.env(t, e).Status.Conditions, accessv1alpha1.ConditionStackReady, accessv1alpha1.ReasonOwnedElsewhere, "prod/RemoteAccessEnvironment/line-a/factory-floor")
		})
		// The DeviceGroup waits for its environment: the SIMs stay in the
		// first cluster's group.
		testenv.Eventually(t, 60*time.Second, "the DeviceGroup waiting for its environment", func() error {
			return wantCondition(dr.group(t, e).Status.Conditions, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonEnvironmentNotReady, "factory-floor")
		})
		dr.untouched(t, before)
		// Its own objects go when it deletes; the first cluster's stay.
		dr.deleteAll(t, e)
		dr.untouched(t, before)
	})

	// The rebuilt cluster, same name: everything adopted, nothing created.
	t.Run("rebuilt cluster", func(t *testing.T) {
		e := dr.controlPlane(t)
		dr.manager(t, e, "prod")
		mark := len(cloud.Faults.Calls(fault.Any, fault.Any))
		dr.apply(t, e)
		start := time.Now()
		dr.waitReady(t, e)
		t.Logf("Ready %s after the manifests were re-applied", time.Since(start).Round(100*time.Millisecond))
		for _, c := range cloud.Faults.Calls(fault.Any, fault.Any)[mark:] {
			if slices.Contains(creates, c.Op) {
				t.Errorf("the rebuilt cluster called %s %s (status %d)", c.API, c.Op, c.Status)
			}
		}
		after := dr.snapshot(t, e)
		if after.vpgID != before.vpgID || after.groupID != before.groupID || after.fleet != before.fleet || after.router != before.router || after.peering != before.peering {
			t.Fatalf("adopted other objects:\nbefore %+v\nafter  %+v", before, after)
		}
		// The objects now carry the new UIDs.
		rae := dr.env(t, e)
		if v, _ := cloud.Soracom.VPG(after.vpgID); v.Tags[accessv1alpha1.TagOwnerUID] != string(rae.UID) {
			t.Fatalf("VPG tags %v, want the new UID %s", v.Tags, rae.UID)
		}
		if inst, _ := cloud.AWS.Instance(after.router); inst.Tags[accessv1alpha1.TagOwnerUID] != string(rae.UID) {
			t.Fatalf("router tags %v, want the new UID %s", inst.Tags, rae.UID)
		}
		if rae.Status.Identity != "prod/RemoteAccessEnvironment/line-a/factory-floor" {
			t.Fatalf("status.identity %q", rae.Status.Identity)
		}

		// Deleting in the rebuilt cluster leaves nothing behind.
		start = time.Now()
		dr.deleteAll(t, e)
		t.Logf("deleted in %s", time.Since(start).Round(100*time.Millisecond))
		for _, v := range cloud.Soracom.VPGs() {
			if v.Status != "terminated" {
				t.Errorf("VPG %s left %s", v.VPGID, v.Status)
			}
		}
		if gs := cloud.Soracom.Groups(); len(gs) != 0 {
			t.Errorf("groups left: %+v", gs)
		}
		if fs := cloud.AWS.Fleets(); len(fs) != 0 {
			t.Errorf("fleets left: %d", len(fs))
		}
		for _, i := range cloud.AWS.Instances() {
			if i.State != "terminated" {
				t.Errorf("router %s left %s", i.ID, i.State)
			}
		}
	})
}

// recovery applies the same manifests to one control plane after another.
type recovery struct {
	t     *testing.T
	cloud *emulator.Cloud
	seed  *emulator.Seeded
	ns    string
}

// controlPlane is a new kube-apiserver with a fresh etcd, stopped with t.
func (dr *recovery) controlPlane(t *testing.T) *testenv.Env {
	e, stop, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	return e
}

// manager runs every controller against e with the cluster name, until t ends.
func (dr *recovery) manager(t *testing.T, e *testenv.Env, cluster string) {
	opts := manager.DefaultOptions()
	opts.ClusterName, opts.AllowedEndpoints = cluster, emulatorEndpoints
	opts.WatchNamespaces = []string{dr.ns}
	testenv.RunManager(t, e, opts, func(m *manager.Manager) error { return manager.RegisterControllers(m, opts) })
}

// apply creates what a platform team keeps in Git: the namespace, the
// credential Secrets and the two samples, pointed at the emulators.
func (dr *recovery) apply(t *testing.T, e *testenv.Env) {
	ctx := context.Background()
	var rae accessv1alpha1.RemoteAccessEnvironment
	var dg accessv1alpha1.DeviceGroup
	for file, into := range map[string]any{"access_v1alpha1_remoteaccessenvironment.yaml": &rae, "access_v1alpha1_devicegroup.yaml": &dg} {
		data, err := os.ReadFile(filepath.Join(e.Root, "config", "samples", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, into); err != nil {
			t.Fatal(err)
		}
	}
	rae.Namespace, dg.Namespace = dr.ns, dr.ns
	rae.Spec.Soracom.Endpoint = dr.cloud.SoracomURL
	rae.Spec.AWS.Endpoints = &accessv1alpha1.AWSEndpoints{AppStream: dr.cloud.AppStreamURL, EC2: dr.cloud.EC2URL}
	rae.Spec.AWS.CredentialsSecretRef = &accessv1alpha1.SecretReference{Name: "aws-credentials"}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dr.ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: dr.ns, Name: "soracom-auth"},
			StringData: map[string]string{clients.KeySoracomAuthKeyID: dr.seed.SoracomAuthKeyID, clients.KeySoracomAuthKey: dr.seed.SoracomAuthKey}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: dr.ns, Name: "aws-credentials"},
			StringData: map[string]string{clients.KeyAWSAccessKeyID: dr.seed.AWSAccessKeyID, clients.KeyAWSSecretAccessKey: dr.seed.AWSSecretAccessKey}},
		&rae, &dg,
	} {
		if err := e.Client.Create(ctx, obj); err != nil {
			t.Fatalf("applying %T %s: %v", obj, obj.GetName(), err)
		}
	}
}

func (dr *recovery) env(t *testing.T, e *testenv.Env) *accessv1alpha1.RemoteAccessEnvironment {
	t.Helper()
	var rae accessv1alpha1.RemoteAccessEnvironment
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: dr.ns, Name: "factory-floor"}, &rae); err != nil {
		t.Fatal(err)
	}
	return &rae
}

func (dr *recovery) group(t *testing.T, e *testenv.Env) *accessv1alpha1.DeviceGroup {
	t.Helper()
	var dg accessv1alpha1.DeviceGroup
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: dr.ns, Name: "line-a"}, &dg); err != nil {
		t.Fatal(err)
	}
	return &dg
}

func (dr *recovery) waitReady(t *testing.T, e *testenv.Env) {
	t.Helper()
	testenv.Eventually(t, 90*time.Second, "environment and DeviceGroup Ready", func() error {
		rae, dg := dr.env(t, e), dr.group(t, e)
		if err := wantCondition(rae.Status.Conditions, accessv1alpha1.ConditionReady, "", ""); err != nil {
			return fmt.Errorf("environment: %w", err)
		}
		if err := wantCondition(dg.Status.Conditions, accessv1alpha1.ConditionReady, "", ""); err != nil {
			return fmt.Errorf("DeviceGroup: %w", err)
		}
		return nil
	})
}

// deleteAll deletes the environment and the group and waits until both are gone.
func (dr *recovery) deleteAll(t *testing.T, e *testenv.Env) {
	t.Helper()
	ctx := context.Background()
	for _, obj := range []client.Object{dr.group(t, e), dr.env(t, e)} {
		if err := e.Client.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 90*time.Second, "environment and DeviceGroup deleted", func() error {
		var raes accessv1alpha1.RemoteAccessEnvironmentList
		var dgs accessv1alpha1.DeviceGroupList
		if err := e.Client.List(ctx, &raes, client.InNamespace(dr.ns)); err != nil {
			return err
		}
		if err := e.Client.List(ctx, &dgs, client.InNamespace(dr.ns)); err != nil {
			return err
		}
		var left []string
		for _, r := range raes.Items {
			left = append(left, "environment: "+condString(r.Status.Conditions))
		}
		for _, d := range dgs.Items {
			left = append(left, "DeviceGroup: "+condString(d.Status.Conditions))
		}
		if len(left) > 0 {
			return fmt.Errorf("left: %s", strings.Join(left, "; "))
		}
		return nil
	})
}

// worldOf is the first cluster's external objects, as the emulators hold them.
type worldOf struct {
	vpgID, groupID, fleet, stack, router, peering string
	routeTables                                   []string
	state                                         string // everything observable of them
}

func (dr *recovery) snapshot(t *testing.T, e *testenv.Env) worldOf {
	t.Helper()
	rae, dg := dr.env(t, e), dr.group(t, e)
	w := worldOf{vpgID: rae.Status.Gateway.ID, groupID: dg.Status.GroupID, fleet: rae.Status.Fleet.Name, stack: rae.Status.Stack.Name,
		peering: rae.Status.Peering.ID, routeTables: rae.Spec.AWS.RouteTableIDs}
	if len(rae.Status.Routers) != 1 {
		t.Fatalf("routers %+v", rae.Status.Routers)
	}
	w.router = rae.Status.Routers[0].InstanceID
	w.state = dr.state(w)
	return w
}

// state prints every object of w as the emulators hold it now (as JSON, so
// that pointers are followed).
func (dr *recovery) state(w worldOf) string {
	var b strings.Builder
	line := func(what string, v any) {
		j, err := json.Marshal(v)
		if err != nil {
			j = []byte(err.Error())
		}
		fmt.Fprintf(&b, "%s %s\n", what, j)
	}
	v, _ := dr.cloud.Soracom.VPG(w.vpgID)
	line("VPG", v)
	g, _ := dr.cloud.Soracom.Group(w.groupID)
	line("group", g)
	for _, s := range dr.cloud.Soracom.SIMs() {
		line("SIM "+s.ID+" in group", s.GroupID)
	}
	for _, f := range dr.cloud.AWS.Fleets() {
		if f.Name == w.fleet {
			line("fleet", f)
		}
	}
	for _, s := range dr.cloud.AWS.Stacks() {
		if s.Name == w.stack {
			line("stack", s)
		}
	}
	inst, _ := dr.cloud.AWS.Instance(w.router)
	line("router", inst)
	for _, id := range w.routeTables {
		rt, _ := dr.cloud.AWS.RouteTable(id)
		line("route table", rt)
	}
	return b.String()
}

// untouched fails when anything of the first cluster's changed.
func (dr *recovery) untouched(t *testing.T, w worldOf) {
	t.Helper()
	if now := dr.state(w); now != w.state {
		t.Fatalf("the first cluster's objects changed:\nbefore:\n%s\nnow:\n%s", w.state, now)
	}
}

// wantCondition is nil when the condition has the status (True unless a
// reason is given: then False with that reason) and the message contains msg.
func wantCondition(conds []metav1.Condition, typ, reason, msg string) error {
	c := conditions.Get(conds, typ)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition", typ)
	case reason == "" && c.Status != metav1.ConditionTrue:
		return fmt.Errorf("%s=%s %s: %s", typ, c.Status, c.Reason, c.Message)
	case reason != "" && (c.Reason != reason || !strings.Contains(c.Message, msg)):
		return fmt.Errorf("%s=%s %s: %s; want %s naming %q", typ, c.Status, c.Reason, c.Message, reason, msg)
	}
	return nil
}

func condString(conds []metav1.Condition) string {
	var parts []string
	for _, c := range conds {
		if c.Status != metav1.ConditionTrue {
			parts = append(parts, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
		}
	}
	return strings.Join(parts, ", ")
}
