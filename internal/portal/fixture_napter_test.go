package portal

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/emulator"
	emusoracom "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/testenv"
)

// The Napter site of team N (namespace nsN, for user-n and user-o):
// remote-site is Ready and allows Napter; its DeviceGroup field has pi-1
// (a SIM's own host with ssh and http, online), plc-2 behind a cellular
// router (http forwarded from router port 8080, modbus not forwarded) and
// cam-3 behind a router with no forward at all. The SIMs, pi-1 and plc-2
// (with the router's forward) exist in the emulated world too: the real
// StreamingSession controller makes the sessions' port mappings in the
// SORACOM emulator, whose endpoints listen on 127.0.0.1.
const (
	napterEnv    = "remote-site"
	napterGroup  = "field"
	napterPiSIM  = "8981100000000000301"
	napterPLCSIM = "8981100000000000302"
	napterCamSIM = "8981100000000000303"
)

func (w *world) addNapterSite(ctx context.Context) error {
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsN, Name: "soracom-auth"},
		StringData: map[string]string{clients.KeySoracomAuthKeyID: emulator.DemoSoracomAuthKeyID, clients.KeySoracomAuthKey: emulator.DemoSoracomAuthKey}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := w.addEnv(ctx, nsN, napterEnv, true, "", []string{"teraterm"}, func(e *accessv1alpha1.RemoteAccessEnvironment) {
		e.Spec.Napter = &accessv1alpha1.NapterSpec{Enabled: true}
		e.Spec.Soracom.Endpoint = w.cloud.SoracomURL
		e.Spec.Soracom.CredentialsSecretRef = accessv1alpha1.SecretReference{Name: "soracom-auth"}
	}); err != nil {
		return err
	}
	g := accessv1alpha1.DeviceGroup{ObjectMeta: metav1.ObjectMeta{Name: napterGroup, Namespace: nsN}}
	g.Spec.EnvironmentRef.Name = napterEnv
	g.Spec.SIMs = []string{napterPiSIM, napterPLCSIM, napterCamSIM}
	g.Spec.Devices = []accessv1alpha1.Device{
		{Name: "cam-3", SIMID: napterCamSIM, Address: "192.168.20.9", Ports: []accessv1alpha1.DevicePort{{Name: "http", Port: 80}}},
		{Name: "pi-1", SIMID: napterPiSIM, Ports: []accessv1alpha1.DevicePort{{Name: "ssh", Port: 22}, {Name: "http", Port: 80}}},
		{Name: "plc-2", SIMID: napterPLCSIM, Address: "192.168.10.7", Ports: []accessv1alpha1.DevicePort{
			{Name: "http", Port: 80, RouterPort: 8080}, {Name: "modbus", Port: 502}}},
	}
	g.Spec.LANRoutes = []accessv1alpha1.LANRoute{{SIMID: napterPLCSIM, CIDR: "192.168.10.0/24"}, {SIMID: napterCamSIM, CIDR: "192.168.20.0/24"}}
	if err := env.Client.Create(ctx, &g); err != nil {
		return fmt.Errorf("creating DeviceGroup %s/%s: %w", nsN, napterGroup, err)
	}
	g.Status.Devices = []accessv1alpha1.DeviceStatus{
		{Name: "cam-3", SIMID: napterCamSIM, Online: true, Address: "192.168.20.9"},
		{Name: "pi-1", SIMID: napterPiSIM, Online: true, Address: "10.128.9.7", Reachable: true, Path: "reachable via i-0abc"},
		{Name: "plc-2", SIMID: napterPLCSIM, Online: true, Address: "192.168.10.7"},
	}
	meta.SetStatusCondition(&g.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Synced", Message: "ok"})
	if err := env.Client.Status().Update(ctx, &g); err != nil {
		return err
	}
	for i, sim := range []string{napterPiSIM, napterPLCSIM, napterCamSIM} {
		w.cloud.Soracom.AddSIM(emusoracom.SIM{ID: sim, IMSI: fmt.Sprintf("44010300000030%d", i+1), Online: true, OperatorID: emulator.DemoSoracomOperatorID})
	}
	w.cloud.AddSIMDevice("pi-1", napterPiSIM, 22, 80)
	if err := w.cloud.AddLANDevice("plc-2", napterPLCSIM, "192.168.10.7", 80, 502); err != nil {
		return err
	}
	return w.cloud.AddPortForward(napterPLCSIM, 8080, "192.168.10.7", 80)
}

// napterEndpoint is a Napter mapping as the test's stand-in controller made it.
type napterEndpoint struct {
	Host, IP string
	Port     int
}

// napterReady waits until the StreamingSession controller has made the
// session's Napter mapping (in the SORACOM emulator) and recorded it, and
// returns the endpoint.
func napterReady(t *testing.T, ss *accessv1alpha1.StreamingSession) napterEndpoint {
	t.Helper()
	ctx := t.Context()
	testenv.Eventually(t, sessionWait, "the Napter session Ready", func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ss), ss); err != nil {
			return err
		}
		if ss.Status.Phase != accessv1alpha1.SessionReady || ss.Status.Napter == nil {
			return fmt.Errorf("phase %q, conditions %+v", ss.Status.Phase, ss.Status.Conditions)
		}
		return nil
	})
	host, port, err := net.SplitHostPort(ss.Status.Napter.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	if ss.Status.Napter.Hostname != "" {
		host = ss.Status.Napter.Hostname
	}
	return napterEndpoint{Host: host, IP: strings.Split(ss.Status.Napter.Endpoint, ":")[0], Port: n}
}
