package session

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

func napterSession(ranges ...string) *accessv1alpha1.StreamingSession {
	s := newSession()
	s.Spec.Via, s.Spec.Application = accessv1alpha1.ViaNapter, ""
	s.Spec.Napter = &accessv1alpha1.NapterAccess{SourceRanges: ranges}
	return s
}

func napterEnv(allowed ...string) *accessv1alpha1.RemoteAccessEnvironment {
	env := readyEnv()
	env.Spec.Napter = &accessv1alpha1.NapterSpec{Enabled: true, AllowedSourceRanges: allowed}
	return env
}

func TestResolveNapter(t *testing.T) {
	notReady := napterEnv()
	notReady.Status.Conditions = nil // Napter does not need the fleet
	notReady.Status.Path = nil       // nor the fleet's path check
	behind := deviceGroup()
	behind.Spec.Devices[1].Address = "192.168.1.20"
	behind.Spec.Devices[1].Ports = []accessv1alpha1.DevicePort{{Name: "http", Port: 80, RouterPort: 8080}, {Name: "ssh", Port: 22}}
	behind.Status.Devices[1].Online = true
	plc := func(port intstr.IntOrString) *accessv1alpha1.StreamingSession {
		s := napterSession("198.51.100.0/24")
		s.Spec.Target = &accessv1alpha1.SessionTarget{DeviceGroup: "line-a", Device: "plc-7", Port: &port}
		return s
	}
	offline := deviceGroup()
	offline.Status.Devices[0].Online = false

	tests := map[string]struct {
		s       *accessv1alpha1.StreamingSession
		env     *accessv1alpha1.RemoteAccessEnvironment
		dg      *accessv1alpha1.DeviceGroup
		outcome Outcome
		reason  string
		want    NapterTarget
	}{
		"SIM host":                   {napterSession("198.51.100.0/24"), napterEnv(), deviceGroup(), Resolved, "", NapterTarget{SIMID: "8981100000000000001", Port: 22}},
		"environment not ready":      {napterSession("198.51.100.0/24"), notReady, deviceGroup(), Resolved, "", NapterTarget{SIMID: "8981100000000000001", Port: 22}},
		"inside the allowed ranges":  {napterSession("198.51.100.7/32"), napterEnv("198.51.100.0/24"), deviceGroup(), Resolved, "", NapterTarget{SIMID: "8981100000000000001", Port: 22}},
		"wider than allowed":         {napterSession("198.51.0.0/16"), napterEnv("198.51.100.0/24"), deviceGroup(), Fail, accessv1alpha1.SessionReasonSourceRangeNotAllowed, NapterTarget{}},
		"not enabled":                {napterSession("198.51.100.0/24"), readyEnv(), deviceGroup(), Fail, accessv1alpha1.SessionReasonNapterNotEnabled, NapterTarget{}},
		"no environment":             {napterSession("198.51.100.0/24"), nil, deviceGroup(), Wait, accessv1alpha1.SessionReasonEnvironmentNotFound, NapterTarget{}},
		"offline":                    {napterSession("198.51.100.0/24"), napterEnv(), offline, Wait, accessv1alpha1.SessionReasonDeviceOffline, NapterTarget{}},
		"router forward by name":     {plc(intstr.FromString("http")), napterEnv(), behind, Resolved, "", NapterTarget{SIMID: "8981100000000000002", Port: 8080, ViaRouter: true}},
		"router forward by number":   {plc(intstr.FromInt32(80)), napterEnv(), behind, Resolved, "", NapterTarget{SIMID: "8981100000000000002", Port: 8080, ViaRouter: true}},
		"router without the forward": {plc(intstr.FromString("ssh")), napterEnv(), behind, Fail, accessv1alpha1.SessionReasonNapterNeedsPortForward, NapterTarget{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := Resolve(tc.s, tc.env, tc.dg)
			if res.Outcome != tc.outcome || res.Reason != tc.reason {
				t.Fatalf("outcome %v %s (%s); want %v %s", res.Outcome, res.Reason, res.Message, tc.outcome, tc.reason)
			}
			if tc.outcome == Resolved && (res.Napter == nil || *res.Napter != tc.want) {
				t.Fatalf("target %+v; want %+v", res.Napter, tc.want)
			}
			if tc.outcome != Resolved && res.Message == "" {
				t.Fatal("no message")
			}
		})
	}
}

// A Napter session maps a port (never mints), is Ready while its mapping
// lasts, and deletes the mapping at the end of its window and on deletion.
func TestDecideNapter(t *testing.T) {
	s := napterSession("198.51.100.0/24")
	in := Input{Session: s, Now: t0, Resolution: Resolve(s, napterEnv(), deviceGroup())}
	step := Decide(in)
	if step.Action != StepMapPort || step.Map.SIMID != "8981100000000000001" || step.Map.Port != 22 || step.Map.Duration != time.Hour ||
		strings.Join(step.Map.SourceRanges, ",") != "198.51.100.0/24" {
		t.Fatalf("first step %s %+v; want MapPort to SIM 1 port 22 for 1h from the range", step.Action, step.Map)
	}

	issued := s.DeepCopy()
	ends := metav1.NewTime(t0.Add(time.Hour))
	issued.Status = step.Status
	issued.Status.Napter = &accessv1alpha1.NapterStatus{Endpoint: "203.0.113.1:40000", SIMID: "8981100000000000001", Port: 22, ExpiresAt: &ends}
	issued.Status.AccessEndsAt, issued.Status.URLExpiresAt = &ends, &ends
	ready := Decide(Input{Session: issued, Now: t0.Add(time.Minute), Secret: SecretObservation{Exists: true, URL: true, InSync: true}})
	if ready.Action != StepWait || ready.Status.Phase != accessv1alpha1.SessionReady || !ready.At.Equal(ends.Time) {
		t.Fatalf("issued: %s %s at %v; want Ready until %v", ready.Action, ready.Status.Phase, ready.At, ends.Time)
	}
	if repair := Decide(Input{Session: issued, Now: t0.Add(time.Minute)}); repair.Action != StepRepairSecret {
		t.Fatalf("Secret gone: %s; want RepairSecret (the endpoint is in status)", repair.Action)
	}
	end := Decide(Input{Session: issued, Now: ends.Time})
	if end.Action != StepUnmapPort || end.Status.Phase != accessv1alpha1.SessionEnded {
		t.Fatalf("at the end of the window: %s %s; want UnmapPort, Ended", end.Action, end.Status.Phase)
	}

	deleting := issued.DeepCopy()
	now := metav1.NewTime(t0.Add(2 * time.Minute))
	deleting.DeletionTimestamp, deleting.Finalizers = &now, []string{accessv1alpha1.StreamingSessionFinalizer}
	revoke := Decide(Input{Session: deleting, Now: now.Time})
	if revoke.Action != StepUnmapPort || revoke.Status.Phase != accessv1alpha1.SessionRevoked || !revoke.Continue {
		t.Fatalf("deleted: %s %s continue=%v; want UnmapPort, Revoked, continue", revoke.Action, revoke.Status.Phase, revoke.Continue)
	}
	deleting.Status = revoke.Status
	deleting.Status.Napter.Deleted = true
	if rel := Decide(Input{Session: deleting, Now: now.Time}); rel.Action != StepRelease {
		t.Fatalf("after the unmap: %s; want Release", rel.Action)
	}
}

// Napter sessions take no fleet instance: they are not counted as waiting
// for, or holding, capacity (they count towards the limits).
func TestCountAheadLeavesNapterOutOfCapacity(t *testing.T) {
	me := newSession()
	me.CreationTimestamp = metav1.NewTime(t0.Add(time.Minute))
	waiting, ready := napterSession("198.51.100.0/24"), napterSession("198.51.100.0/24")
	waiting.Name, waiting.UID, waiting.CreationTimestamp = "n1", "n1", metav1.NewTime(t0)
	ready.Name, ready.UID, ready.CreationTimestamp = "n2", "n2", metav1.NewTime(t0)
	ready.Status.Phase = accessv1alpha1.SessionReady
	got := CountAhead(me, []*accessv1alpha1.StreamingSession{waiting, ready})
	if got != (Ahead{User: 2, Total: 2}) {
		t.Fatalf("ahead %+v; want 2 towards the limits and none towards capacity", got)
	}
}

// A Napter session deleted before its recorded mapping is read (the status
// write is not in the cache yet) deletes the mapping its Secret names, and
// never asks AppStream for anything.
func TestDecideNapterDeletedBeforeItsStatusIsRead(t *testing.T) {
	s := napterSession("198.51.100.0/24")
	now := metav1.NewTime(t0)
	s.DeletionTimestamp, s.Finalizers = &now, []string{accessv1alpha1.StreamingSessionFinalizer}
	sec := SecretObservation{Exists: true, URL: true, Endpoint: "203.0.113.1:40000"}
	step := Decide(Input{Session: s, Now: t0, Secret: sec})
	if step.Action != StepUnmapPort || step.Status.Napter == nil || step.Status.Napter.Endpoint != "203.0.113.1:40000" || !step.Continue {
		t.Fatalf("step %s %+v; want UnmapPort of the Secret's endpoint", step.Action, step.Status.Napter)
	}
	s.Status = step.Status
	s.Status.Napter.Deleted = true
	if rel := Decide(Input{Session: s, Now: t0, Secret: sec}); rel.Action != StepRelease {
		t.Fatalf("after the unmap: %s; want Release", rel.Action)
	}
	// Never mapped, nothing in the Secret: released at once.
	bare := napterSession("198.51.100.0/24")
	bare.DeletionTimestamp, bare.Finalizers = &now, []string{accessv1alpha1.StreamingSessionFinalizer}
	if rel := Decide(Input{Session: bare, Now: t0}); rel.Action != StepRelease {
		t.Fatalf("never mapped: %s; want Release", rel.Action)
	}
}
