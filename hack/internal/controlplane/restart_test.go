package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatestream/gatestream/internal/repo"
)

// kube-apiserver stopped and started again keeps its port, certificates and
// etcd: a kubeconfig written before works after, and finds what was written
// before. The control plane knows its own processes by their command line,
// also with a second control plane in the same process.
func TestRestartAPIServer(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := AssetsDir(root, "etcd", "kube-apiserver")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	start := func(name string) *ControlPlane {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cp, err := Start(Options{Root: root, Assets: assets, LogDir: dir, RestartableAPIServer: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := cp.Stop(); err != nil {
				t.Error(err)
			}
		})
		return cp
	}
	a, b := start("a"), start("b")
	for _, cp := range []*ControlPlane{a, b} {
		if n := len(cp.Processes()); n != 2 {
			t.Fatalf("control plane %s knows %d processes, want etcd and kube-apiserver: %v", cp.URL(), n, cp.Processes())
		}
	}
	if a.APIServerPID() == b.APIServerPID() {
		t.Fatal("two control planes name the same kube-apiserver")
	}

	path := filepath.Join(t.TempDir(), "kubeconfig")
	if _, err := a.AddUser("someone", []string{"system:masters"}, path, ""); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}); err != nil {
		t.Fatal(err)
	}

	old := a.APIServerPID()
	if err := a.StopAPIServer(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if Alive(old) || a.APIServerPID() != 0 {
		t.Fatalf("kube-apiserver %d still runs (known: %d)", old, a.APIServerPID())
	}
	if err := a.CheckAlive(); err != nil {
		t.Fatalf("etcd should still run: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "kept"}, &corev1.Namespace{}); err == nil {
		t.Fatal("a stopped kube-apiserver answered")
	}
	if !Alive(b.APIServerPID()) {
		t.Fatal("stopping one control plane's kube-apiserver stopped the other's")
	}

	if err := a.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if pid := a.APIServerPID(); pid == 0 || pid == old || !Alive(pid) {
		t.Fatalf("kube-apiserver after the restart: pid %d (before %d)", pid, old)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "kept"}, &corev1.Namespace{}); err != nil {
		t.Fatalf("the kubeconfig written before the restart, or etcd's data, did not survive: %v", err)
	}
}
