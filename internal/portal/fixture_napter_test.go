package portal

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator"
	emusoracom "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
	"github.com/gatestream/gatestream/internal/testenv"
)

// The Napter site of team N (namespace nsN, for user-n and user-o):
// remote-site is Ready and allows Napter; its DeviceGroup field has pi-1
// (a SIM's own host with ssh and http, online), plc-2 behind a cellular
// router (http forwarded from router port 8080, modbus not forwarded) and
// cam-3 behind a router with no forward at all. The SIMs and pi-1 exist in
// the SORACOM emulator too, so that a test playing the Napter controller can
// make a real (emulated) port mapping and walk a connection to it.
const (
	napterEnv    = "remote-site"
	napterGroup  = "field"
	napterPiSIM  = "8981100000000000301"
	napterPLCSIM = "8981100000000000302"
	napterCamSIM = "8981100000000000303"
)

func (w *world) addNapterSite(ctx context.Context) error {
	if err := w.addEnv(ctx, nsN, napterEnv, true, "", []string{"teraterm"}, func(e *accessv1alpha1.RemoteAccessEnvironment) {
		e.Spec.Napter = &accessv1alpha1.NapterSpec{Enabled: true}
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
	return nil
}

// napterEndpoint is a Napter mapping as the test's stand-in controller made it.
type napterEndpoint struct {
	Host, IP string
	Port     int
}

// playNapterController does what the Napter controller would for a Pending
// Napter session: with mapping, it makes a port mapping in the SORACOM
// emulator to simID:devicePort, open to the session's source ranges;
// without, it makes up an endpoint. Then it writes the session's Secret
// (controlled by the session) and its status: Ready, EndpointIssued.
func playNapterController(t *testing.T, w *world, ss *accessv1alpha1.StreamingSession, simID string, devicePort int, mapping bool) napterEndpoint {
	t.Helper()
	ctx := t.Context()
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ss), ss); err != nil {
		t.Fatal(err)
	}
	ep := napterEndpoint{Host: "p-203-0-113-44.napter.soracom.example", IP: "203.0.113.44", Port: 41234}
	expires := time.Now().Add(ss.Spec.AccessWindow.Duration).Truncate(time.Second)
	if mapping {
		sor, err := soracom.New(soracom.Options{Endpoint: w.cloud.SoracomURL, MaxRetries: -1, Timeout: 30 * time.Second,
			Credentials: soracom.Credentials{AuthKeyID: emulator.DemoSoracomAuthKeyID, AuthKey: emulator.DemoSoracomAuthKey}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := sor.CreatePortMappingForSIM(ctx, simID, soracom.PortMappingRequest{Port: devicePort, Service: soracom.NapterServiceAir,
			Duration: ss.Spec.AccessWindow.Duration, SourceRanges: ss.Spec.Napter.SourceRanges, TLSRequired: ss.Spec.Napter.TLS})
		if err != nil {
			t.Fatalf("creating the Napter mapping in the emulator: %v", err)
		}
		ep = napterEndpoint{Host: m.Hostname, IP: m.IPAddress, Port: m.Port}
		expires = m.ExpiredTime
		t.Cleanup(func() { _ = sor.DeletePortMapping(context.Background(), m.IPAddress, m.Port) })
	}
	endpoint := net.JoinHostPort(ep.IP, strconv.Itoa(ep.Port))
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ss.Namespace, Name: ss.Name + "-url",
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ss, accessv1alpha1.GroupVersion.WithKind("StreamingSession"))}},
		Data: map[string][]byte{
			accessv1alpha1.SecretKeyEndpoint:  []byte(endpoint),
			accessv1alpha1.SecretKeyHost:      []byte(ep.Host),
			accessv1alpha1.SecretKeyPort:      []byte(strconv.Itoa(ep.Port)),
			accessv1alpha1.SecretKeyTLS:       []byte(strconv.FormatBool(ss.Spec.Napter.TLS)),
			accessv1alpha1.SecretKeyExpiresAt: []byte(expires.UTC().Format(time.RFC3339)),
			accessv1alpha1.SecretKeyTarget:    []byte("10.128.9.7:" + strconv.Itoa(devicePort)),
		},
	}
	if err := env.Client.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, sessionWait, "the Napter session Ready", func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ss), ss); err != nil {
			return err
		}
		ss.Status.Phase = accessv1alpha1.SessionReady
		ss.Status.SecretName = sec.Name
		ss.Status.AccessEndsAt = &metav1.Time{Time: expires}
		ss.Status.Target = &accessv1alpha1.ResolvedTarget{Address: "10.128.9.7", Port: int32(devicePort)}
		ss.Status.Napter = &accessv1alpha1.NapterStatus{Endpoint: endpoint, Hostname: ep.Host, SIMID: simID, Port: int32(devicePort), ExpiresAt: &metav1.Time{Time: expires}}
		meta.SetStatusCondition(&ss.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: accessv1alpha1.SessionReasonEndpointIssued, Message: "Napter endpoint " + endpoint + " is open to the source ranges"})
		return env.Client.Status().Update(ctx, ss)
	})
	return ep
}
