package harness

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/manager"
)

// Printer writes progress lines prefixed with the time since T0.
type Printer struct {
	mu sync.Mutex
	W  io.Writer
	T0 time.Time
}

// Step prints one progress line.
func (p *Printer) Step(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.W, "[%5.0fs] %s\n", time.Since(p.T0).Seconds(), fmt.Sprintf(format, args...))
}

// Install says what to install on a fresh control plane.
type Install struct {
	// Root is the repository (the manager's role and the admission policies come from it).
	Root string
	// Workdir receives the kubeconfigs.
	Workdir string
	// AdminUser gets a system:masters kubeconfig at Workdir/kubeconfig (for people).
	AdminUser string
	// ManagerUser is the manager's identity: a client certificate, bound to
	// manager-role by the ClusterRoleBinding Binding and nothing else; its
	// kubeconfig is Workdir/<ManagerUser>.kubeconfig.
	ManagerUser, Binding string
	// FieldOwner applies the objects.
	FieldOwner client.FieldOwner
	// Cloud provides the credentials Secrets of every namespace.
	Cloud *emulator.Cloud
	// Namespaces are created with the credentials in each (and gatestream-system).
	Namespaces []string
}

// Installed is what Apply installed.
type Installed struct {
	// Admin is envtest's admin without a client-side rate limit (the
	// callers measure the server, not client-go's limiter).
	Admin client.WithWatch
	// ManagerKubeconfig is the manager's kubeconfig.
	ManagerKubeconfig string
}

// Apply installs what the manager needs on cp: users and their kubeconfigs,
// the namespaces with the emulators' credentials, the manager's RBAC and the
// admission policies.
func (in Install) Apply(ctx context.Context, cp *controlplane.ControlPlane) (*Installed, error) {
	adminCfg := rest.CopyConfig(cp.Admin)
	adminCfg.QPS, adminCfg.Burst = -1, 0
	adminCfg.Timeout = time.Minute
	admin, err := client.NewWithWatch(adminCfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		return nil, err
	}
	if _, err := cp.AddUser(in.AdminUser, []string{"system:masters"}, filepath.Join(in.Workdir, "kubeconfig"), ""); err != nil {
		return nil, err
	}
	out := &Installed{Admin: admin, ManagerKubeconfig: filepath.Join(in.Workdir, in.ManagerUser+".kubeconfig")}
	if _, err := cp.AddUser(in.ManagerUser, nil, out.ManagerKubeconfig, ""); err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, ns := range append([]string{controlplane.SystemNamespace}, in.Namespaces...) {
		u, err := controlplane.ToUnstructured(&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
	for _, ns := range in.Namespaces {
		secrets, err := controlplane.DecodeYAML([]byte(in.Cloud.CredentialsManifests(ns)))
		if err != nil {
			return nil, err
		}
		objs = append(objs, secrets...)
	}
	rbac, err := controlplane.ManagerRBAC(in.Root, in.Binding, in.ManagerUser)
	if err != nil {
		return nil, err
	}
	admission, err := controlplane.AdmissionManifests(in.Root)
	if err != nil {
		return nil, err
	}
	objs = append(append(objs, rbac...), admission...)
	if err := controlplane.Apply(ctx, admin, in.FieldOwner, objs...); err != nil {
		return nil, err
	}
	return out, nil
}

// EnvironmentSample is the sample RemoteAccessEnvironment pointed at cloud's
// emulators (and its AWS credentials Secret).
func EnvironmentSample(root string, cloud *emulator.Cloud) (*unstructured.Unstructured, error) {
	sample, err := controlplane.DecodeFile(filepath.Join(root, controlplane.EnvironmentSample))
	if err != nil {
		return nil, err
	}
	if len(sample) != 1 {
		return nil, fmt.Errorf("%s: want one RemoteAccessEnvironment", controlplane.EnvironmentSample)
	}
	if err := controlplane.MergePatch(sample[0], cloud.EnvironmentPatch()); err != nil {
		return nil, err
	}
	return sample[0], nil
}

// Environment is environment number i made from sample (EnvironmentSample)
// as key, with labels. Environments share the demo's VPC and route table,
// where a device subnet can be routed to one router only: environment i gets
// its own device subnet, DeviceSubnet(i), and no sample Gate peer (whose
// inner address is in the sample's subnet). There is no limit on live
// sessions (the callers flood on purpose).
func Environment(sample *unstructured.Unstructured, key client.ObjectKey, i int, labels map[string]string) (*unstructured.Unstructured, error) {
	e := sample.DeepCopy()
	e.SetNamespace(key.Namespace)
	e.SetName(key.Name)
	e.SetLabels(labels)
	gw := []string{"spec", "soracom", "gateway"}
	if err := unstructured.SetNestedField(e.Object, DeviceSubnet(i), append(gw, "deviceSubnetCidrRange")...); err != nil {
		return nil, err
	}
	unstructured.RemoveNestedField(e.Object, append(gw, "gate", "peers")...)
	if err := unstructured.SetNestedMap(e.Object, map[string]any{"perUser": int64(1000), "total": int64(100000)}, "spec", "sessionLimits"); err != nil {
		return nil, err
	}
	return e, nil
}

// DeviceSubnet is environment i's device subnet, a /24 of 10.128.0.0/9.
func DeviceSubnet(i int) string { return fmt.Sprintf("10.%d.%d.0/24", 128+i/256, i%256) }
