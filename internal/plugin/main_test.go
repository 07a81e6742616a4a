package plugin_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/plugin"
	"github.com/gatestream/gatestream/internal/testenv"
)

// env is the real kube-apiserver and etcd the package's tests share. No
// controller runs: the tests play the StreamingSession controller themselves.
var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// eventually polls cond every 20ms for up to 15s.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 15*time.Second, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plugin-"}}
	if err := env.Client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// newApp is an App on the test namespace; the current user is the
// control plane's admin (found with a real SelfSubjectReview).
func newApp(ns string) (*plugin.App, *testenv.SyncBuffer, *testenv.SyncBuffer) {
	out, errb := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	return &plugin.App{
		Client:        env.Client,
		Namespace:     ns,
		Out:           out,
		Err:           errb,
		PollInterval:  20 * time.Millisecond,
		ProgressEvery: time.Hour,
		Open:          func(string) error { panic("Open called without --open") },
	}, out, errb
}

// makeEnv creates the sample RemoteAccessEnvironment as name, with its Ready
// condition True, or False with reason and message.
func makeEnv(t *testing.T, ns, name string, ready bool, reason, message string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "samples", "access_v1alpha1_remoteaccessenvironment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rae := &accessv1alpha1.RemoteAccessEnvironment{}
	if err := yaml.Unmarshal(data, rae); err != nil {
		t.Fatal(err)
	}
	rae.Namespace, rae.Name = ns, name
	if err := env.Client.Create(t.Context(), rae); err != nil {
		t.Fatal(err)
	}
	status := metav1.ConditionTrue
	if !ready {
		status = metav1.ConditionFalse
	}
	meta.SetStatusCondition(&rae.Status.Conditions, metav1.Condition{
		Type: accessv1alpha1.ConditionReady, Status: status, Reason: reason, Message: message,
		ObservedGeneration: rae.Generation,
	})
	if err := env.Client.Status().Update(t.Context(), rae); err != nil {
		t.Fatal(err)
	}
}

// makeGroup creates a DeviceGroup with raspi-1 (SSH, online at 10.128.3.7)
// and plc-7 (HTTP, behind a router at 192.168.1.20, offline), plus extra
// devices named in extra (on the first SIM, no ports, no status).
func makeGroup(t *testing.T, ns, name, envName string, extra ...string) {
	t.Helper()
	sim1, sim2 := "8981100000000000001", "8981100000000000002"
	dg := &accessv1alpha1.DeviceGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.DeviceGroupSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: envName},
			SIMs:           []string{sim1, sim2},
			Devices: []accessv1alpha1.Device{
				{Name: "raspi-1", SIMID: sim1, Ports: []accessv1alpha1.DevicePort{{Name: "ssh", Port: 22}}},
				{Name: "plc-7", SIMID: sim2, Address: "192.168.1.20", Ports: []accessv1alpha1.DevicePort{{Name: "http", Port: 80}, {Name: "modbus", Port: 502}}},
			},
			LANRoutes: []accessv1alpha1.LANRoute{{SIMID: sim2, CIDR: "192.168.1.0/24"}},
		},
	}
	for _, d := range extra {
		dg.Spec.Devices = append(dg.Spec.Devices, accessv1alpha1.Device{Name: d, SIMID: sim1})
	}
	if err := env.Client.Create(t.Context(), dg); err != nil {
		t.Fatal(err)
	}
	dg.Status.Devices = []accessv1alpha1.DeviceStatus{
		{Name: "raspi-1", SIMID: sim1, Online: true, Address: "10.128.3.7", Reachable: true},
		{Name: "plc-7", SIMID: sim2, Online: false, Address: "192.168.1.20"},
	}
	meta.SetStatusCondition(&dg.Status.Conditions, metav1.Condition{
		Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Available", Message: "",
	})
	if err := env.Client.Status().Update(t.Context(), dg); err != nil {
		t.Fatal(err)
	}
}

// waitForSession plays the controller's watch: it returns the one
// StreamingSession that appears in the namespace.
func waitForSession(t *testing.T, ns string) *accessv1alpha1.StreamingSession {
	t.Helper()
	var got *accessv1alpha1.StreamingSession
	eventually(t, "a StreamingSession", func(ctx context.Context) (bool, error) {
		var list accessv1alpha1.StreamingSessionList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		if len(list.Items) > 1 {
			t.Fatalf("%d sessions created, want 1", len(list.Items))
		}
		if len(list.Items) == 1 {
			got = &list.Items[0]
			return true, nil
		}
		return false, nil
	})
	return got
}

// setStatus writes a session's status as the controller would.
func setStatus(t *testing.T, ss *accessv1alpha1.StreamingSession, phase accessv1alpha1.SessionPhase, cond metav1.Condition, mutate func(*accessv1alpha1.StreamingSessionStatus)) {
	t.Helper()
	if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(ss), ss); err != nil {
		t.Fatal(err)
	}
	ss.Status.Phase = phase
	cond.Type = accessv1alpha1.ConditionReady
	meta.SetStatusCondition(&ss.Status.Conditions, cond)
	if mutate != nil {
		mutate(&ss.Status)
	}
	if err := env.Client.Status().Update(t.Context(), ss); err != nil {
		t.Fatal(err)
	}
}

// result waits for a command running in a goroutine.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not return")
		return nil
	}
}

// writeKubeconfig writes a kubeconfig for the test control plane whose
// current context's namespace is ns, as a user's ~/.kube/config would be.
func writeKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	c := env.Config
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["envtest-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest-admin", Namespace: ns}
	cfg.Contexts["elsewhere"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest-admin", Namespace: "default"}
	cfg.CurrentContext = "elsewhere"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustContain(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
