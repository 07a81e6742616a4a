package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
)

var t0 = time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)

func newSession() *accessv1alpha1.StreamingSession {
	port := intstr.FromString("ssh")
	return &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{Name: "s1", Namespace: "team-a", UID: "uid-1"},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: "factory"},
			UserID:         "user-a",
			Application:    "teraterm",
			Target:         &accessv1alpha1.SessionTarget{DeviceGroup: "line-a", Device: "raspi-1", Port: &port},
			URLValidity:    metav1.Duration{Duration: 5 * time.Minute},
			AccessWindow:   metav1.Duration{Duration: time.Hour},
		},
	}
}

func readyEnv() *accessv1alpha1.RemoteAccessEnvironment {
	env := &accessv1alpha1.RemoteAccessEnvironment{ObjectMeta: metav1.ObjectMeta{Name: "factory", Namespace: "team-a"}}
	env.Spec.AppStream.Applications = []string{"teraterm", "rdp"}
	env.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Available"}}
	env.Status.Fleet = &accessv1alpha1.FleetStatus{Name: "fleet-1"}
	env.Status.Stack = &accessv1alpha1.StackStatus{Name: "stack-1"}
	env.Status.Path = &accessv1alpha1.PathStatus{Devices: []accessv1alpha1.DevicePath{
		{DeviceGroup: "line-a", Device: "raspi-1", Address: "10.128.3.7", Reachable: true, Path: "reachable via i-1"}}}
	return env
}

func deviceGroup() *accessv1alpha1.DeviceGroup {
	dg := &accessv1alpha1.DeviceGroup{ObjectMeta: metav1.ObjectMeta{Name: "line-a", Namespace: "team-a"}}
	dg.Spec.EnvironmentRef.Name = "factory"
	dg.Spec.Devices = []accessv1alpha1.Device{
		{Name: "raspi-1", SIMID: "8981100000000000001", Ports: []accessv1alpha1.DevicePort{{Name: "ssh", Port: 22}, {Name: "http", Port: 80}}},
		{Name: "plc-7", SIMID: "8981100000000000002"},
	}
	dg.Status.Devices = []accessv1alpha1.DeviceStatus{
		{Name: "raspi-1", Online: true, Address: "10.128.3.7", Reachable: true},
		{Name: "plc-7", Online: false, Address: "192.168.1.20"},
	}
	return dg
}

func TestResolveEnvironment(t *testing.T) {
	notReady := readyEnv()
	notReady.Status.Conditions[0].Status = metav1.ConditionFalse
	notReady.Status.Conditions[0].Reason = "FleetStarting"
	noFleet := readyEnv()
	noFleet.Status.Fleet = nil
	otherApps := readyEnv()
	otherApps.Spec.AppStream.Applications = []string{"rdp"}
	otherAppsNotReady := otherApps.DeepCopy()
	otherAppsNotReady.Status.Conditions = nil

	tests := map[string]struct {
		env     *accessv1alpha1.RemoteAccessEnvironment
		outcome Outcome
		reason  string
		msg     string
	}{
		"missing":                       {nil, Wait, accessv1alpha1.SessionReasonEnvironmentNotFound, `"factory"`},
		"not ready":                     {notReady, Wait, accessv1alpha1.SessionReasonEnvironmentNotReady, "FleetStarting"},
		"ready without fleet":           {noFleet, Wait, accessv1alpha1.SessionReasonEnvironmentNotReady, "fleet and stack"},
		"application not offered":       {otherApps, Fail, accessv1alpha1.SessionReasonApplicationNotOffered, `"teraterm"`},
		"not offered but not ready yet": {otherAppsNotReady, Wait, accessv1alpha1.SessionReasonEnvironmentNotReady, ""},
		"ready":                         {readyEnv(), Resolved, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := ResolveEnvironment(newSession(), tc.env)
			if res.Outcome != tc.outcome || res.Reason != tc.reason || !strings.Contains(res.Message, tc.msg) {
				t.Fatalf("got %+v", res)
			}
			if tc.outcome == Resolved && (res.Fleet != "fleet-1" || res.Stack != "stack-1") {
				t.Fatalf("fleet/stack: %+v", res)
			}
		})
	}
}

func TestResolveTarget(t *testing.T) {
	withPort := func(p intstr.IntOrString, device string) *accessv1alpha1.StreamingSession {
		s := newSession()
		s.Spec.Target.Port = &p
		s.Spec.Target.Device = device
		return s
	}
	otherEnv := deviceGroup()
	otherEnv.Spec.EnvironmentRef.Name = "lab"
	noAddress := deviceGroup()
	noAddress.Status.Devices = nil
	noTarget := newSession()
	noTarget.Spec.Target = nil
	noPort := newSession()
	noPort.Spec.Target.Port = nil

	walked := func(d accessv1alpha1.DevicePath) *accessv1alpha1.RemoteAccessEnvironment {
		env := readyEnv()
		env.Status.Path = &accessv1alpha1.PathStatus{Devices: []accessv1alpha1.DevicePath{d}}
		return env
	}
	notWalked := readyEnv()
	notWalked.Status.Path = nil
	checked := walked(accessv1alpha1.DevicePath{DeviceGroup: "line-a", Device: "raspi-1", Address: "10.128.3.7", Reachable: true, Path: "reachable via i-1"})
	broken := walked(accessv1alpha1.DevicePath{DeviceGroup: "line-a", Device: "raspi-1", Address: "10.128.3.7", Path: "FleetRoute: rtb-1 has no route"})
	elsewhere := walked(accessv1alpha1.DevicePath{DeviceGroup: "line-a", Device: "raspi-1", Address: "10.128.3.99", Reachable: true})
	noAddress0 := walked(accessv1alpha1.DevicePath{DeviceGroup: "line-a", Device: "raspi-1", Reachable: false, Path: "SIM: offline"})
	otherGroup := walked(accessv1alpha1.DevicePath{DeviceGroup: "line-b", Device: "raspi-1", Address: "10.128.3.7", Reachable: true})

	tests := map[string]struct {
		s       *accessv1alpha1.StreamingSession
		env     *accessv1alpha1.RemoteAccessEnvironment
		dg      *accessv1alpha1.DeviceGroup
		outcome Outcome
		reason  string
		target  string
		msg     string
	}{
		"no target":            {noTarget, checked, nil, Resolved, "", "", ""},
		"group missing":        {newSession(), checked, nil, Wait, accessv1alpha1.SessionReasonDeviceGroupNotFound, "", ""},
		"group of another env": {newSession(), checked, otherEnv, Fail, accessv1alpha1.SessionReasonDeviceGroupNotInEnvironment, "", ""},
		"unknown device":       {withPort(intstr.FromString("ssh"), "nope"), checked, deviceGroup(), Fail, accessv1alpha1.SessionReasonDeviceNotFound, "", ""},
		"unknown port name":    {withPort(intstr.FromString("rdp"), "raspi-1"), checked, deviceGroup(), Fail, accessv1alpha1.SessionReasonPortNotFound, "", ""},
		"address unknown":      {newSession(), checked, noAddress, Wait, accessv1alpha1.SessionReasonDeviceAddressUnknown, "", ""},
		"offline":              {withPort(intstr.FromInt32(502), "plc-7"), checked, deviceGroup(), Wait, accessv1alpha1.SessionReasonDeviceOffline, "", ""},
		// Reachability is the environment's path check, at the address the group reports.
		"path not walked": {newSession(), notWalked, deviceGroup(), Wait, accessv1alpha1.SessionReasonDeviceUnreachable, "", "not checked yet"},
		"path walked in a group of that name elsewhere": {newSession(), otherGroup, deviceGroup(), Wait, accessv1alpha1.SessionReasonDeviceUnreachable, "", "not checked yet"},
		"path broken": {newSession(), broken, deviceGroup(), Wait, accessv1alpha1.SessionReasonDeviceUnreachable, "", "rtb-1 has no route"},
		"path checked before the address was known": {newSession(), noAddress0, deviceGroup(), Wait, accessv1alpha1.SessionReasonDeviceUnreachable, "", "not checked yet at 10.128.3.7: the environment checked the device before its address was known"},
		"path walked to an old address":             {newSession(), elsewhere, deviceGroup(), Wait, accessv1alpha1.SessionReasonDeviceUnreachable, "", "not checked yet at 10.128.3.7: the environment walked the path to 10.128.3.99"},
		"port by name":                              {newSession(), checked, deviceGroup(), Resolved, "", "10.128.3.7:22", ""},
		"port by number":                            {withPort(intstr.FromInt32(8080), "raspi-1"), checked, deviceGroup(), Resolved, "", "10.128.3.7:8080", ""},
		"no port":                                   {noPort, checked, deviceGroup(), Resolved, "", "10.128.3.7", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			target, res := ResolveTarget(tc.s, tc.env, tc.dg)
			if res.Outcome != tc.outcome || res.Reason != tc.reason || !strings.Contains(res.Message, tc.msg) {
				t.Fatalf("got %+v", res)
			}
			if res.Outcome != Resolved && res.Message == "" {
				t.Fatal("no message")
			}
			if got := TargetString(target); got != tc.target {
				t.Fatalf("target %q, want %q", got, tc.target)
			}
		})
	}
}

func TestDeadlines(t *testing.T) {
	s := newSession()
	// Before any mint the window would start now.
	if got := AccessEndsAt(s, t0); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("AccessEndsAt before mint: %v", got)
	}
	s.Status.MintRequestedAt = &metav1.Time{Time: t0}
	if got := AccessEndsAt(s, t0.Add(time.Minute)); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("AccessEndsAt from mintRequestedAt: %v", got)
	}
	if got := MintValidity(&s.Spec, t0.Add(time.Hour), t0); got != 5*time.Minute {
		t.Fatalf("MintValidity: %v", got)
	}
	// Near the end of the window the URL is cut to the window, in whole seconds.
	if got := MintValidity(&s.Spec, t0.Add(90*time.Second+500*time.Millisecond), t0); got != 90*time.Second {
		t.Fatalf("MintValidity near the end: %v", got)
	}
	if got := MintValidity(&s.Spec, t0, t0.Add(time.Second)); got != 0 {
		t.Fatalf("MintValidity after the end: %v", got)
	}
	s.Status.URLExpiresAt = &metav1.Time{Time: t0.Add(5 * time.Minute)}
	if got := URLSettledAt(s); !got.Equal(t0.Add(5*time.Minute + Skew)) {
		t.Fatalf("URLSettledAt: %v", got)
	}
	if _, ok := TTLDeadline(s); ok {
		t.Fatal("TTL without ttlAfterFinished")
	}
	s.Spec.TTLAfterFinished = &metav1.Duration{Duration: time.Hour}
	s.Status.FinishedAt = &metav1.Time{Time: t0}
	if d, ok := TTLDeadline(s); !ok || !d.Equal(t0.Add(time.Hour)) {
		t.Fatalf("TTLDeadline: %v %v", d, ok)
	}
	if got := CeilSecond(t0.Add(1500 * time.Millisecond)); !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("CeilSecond: %v", got)
	}
	if got := CeilSecond(t0); !got.Equal(t0) {
		t.Fatalf("CeilSecond whole: %v", got)
	}
	if got := Earliest(time.Time{}, t0.Add(time.Hour), t0); !got.Equal(t0) {
		t.Fatalf("Earliest: %v", got)
	}
	for _, p := range []accessv1alpha1.SessionPhase{accessv1alpha1.SessionExpired, accessv1alpha1.SessionEnded, accessv1alpha1.SessionFailed, accessv1alpha1.SessionRevoked} {
		if !Finished(p) {
			t.Fatalf("%s not finished", p)
		}
	}
	for _, p := range []accessv1alpha1.SessionPhase{"", accessv1alpha1.SessionPending, accessv1alpha1.SessionReady, accessv1alpha1.SessionActive} {
		if Finished(p) {
			t.Fatalf("%s finished", p)
		}
	}
}

func TestNeedsRevocation(t *testing.T) {
	s := newSession()
	if NeedsRevocation(s) {
		t.Fatal("never minted")
	}
	s.Status.MintRequestedAt = &metav1.Time{Time: t0}
	s.Status.Phase = accessv1alpha1.SessionPending
	if !NeedsRevocation(s) {
		t.Fatal("a lost mint may have given access")
	}
	s.Status.Phase = accessv1alpha1.SessionEnded
	if NeedsRevocation(s) {
		t.Fatal("Ended already ended the sessions")
	}
}

func TestSecretMetadata(t *testing.T) {
	s := newSession()
	s.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{
		Labels: map[string]accessv1alpha1.LabelValue{
			"team":                               "a",
			"app.kubernetes.io/instance":         "argo-app",
			accessv1alpha1.LabelManagedBy:        "someone-else",
			accessv1alpha1.LabelStreamingSession: "other",
		},
		Annotations: map[string]string{"note": "x", "argocd.argoproj.io/tracking-id": "app:/Secret:ns/x"},
	}
	l := Labels(s)
	if l["team"] != "a" || l[accessv1alpha1.LabelManagedBy] != "gatestream" || l[accessv1alpha1.LabelStreamingSession] != "s1" {
		t.Fatalf("labels: %v", l)
	}
	if _, ok := l["app.kubernetes.io/instance"]; ok {
		t.Fatalf("Argo CD tracking label kept: %v", l)
	}
	a := Annotations(s)
	if a["note"] != "x" || a["argocd.argoproj.io/tracking-id"] != "" {
		t.Fatalf("annotations: %v", a)
	}
	if got := StrippedMetadata(s); len(got) != 2 {
		t.Fatalf("stripped: %v", got)
	}

	exp := t0.Add(5 * time.Minute)
	sec := NewSecret(s, "https://as.example/streaming/tok", exp, "10.128.3.7:22")
	if sec.Name != "s1-url" || sec.Namespace != "team-a" || sec.Type != corev1.SecretTypeOpaque || string(sec.Data["url"]) == "" ||
		string(sec.Data["expiresAt"]) != "2026-09-01T09:05:00Z" || string(sec.Data["target"]) != "10.128.3.7:22" {
		t.Fatalf("new Secret: %+v", sec)
	}
	if len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].UID != "uid-1" || !*sec.OwnerReferences[0].Controller {
		t.Fatalf("owner: %+v", sec.OwnerReferences)
	}

	// The new Secret is in sync; drift of what we own is not.
	sec.Labels["added-by-someone"] = "fine"
	if !InSync(sec, s, exp, "10.128.3.7:22") {
		t.Fatal("in-sync Secret reported out of sync")
	}
	for name, mutate := range map[string]func(*corev1.Secret){
		"label removed":     func(x *corev1.Secret) { delete(x.Labels, accessv1alpha1.LabelManagedBy) },
		"label changed":     func(x *corev1.Secret) { x.Labels["team"] = "b" },
		"annotation gone":   func(x *corev1.Secret) { delete(x.Annotations, "note") },
		"expiresAt edited":  func(x *corev1.Secret) { x.Data["expiresAt"] = []byte("never") },
		"target removed":    func(x *corev1.Secret) { delete(x.Data, "target") },
		"owner ref removed": func(x *corev1.Secret) { x.OwnerReferences = nil },
	} {
		x := sec.DeepCopy()
		mutate(x)
		if InSync(x, s, exp, "10.128.3.7:22") {
			t.Fatalf("%s: reported in sync", name)
		}
	}
	if !ControlledBy(sec, s) {
		t.Fatal("ControlledBy")
	}
	other := s.DeepCopy()
	other.UID = "uid-2"
	if ControlledBy(sec, other) {
		t.Fatal("ControlledBy another session")
	}
	if e, ok := ExpiresAt(sec); !ok || !e.Equal(exp) {
		t.Fatalf("ExpiresAt: %v %v", e, ok)
	}

	// fill puts back what we own and leaves the rest alone.
	drifted := sec.DeepCopy()
	delete(drifted.Labels, accessv1alpha1.LabelManagedBy)
	drifted.Data["expiresAt"] = []byte("never")
	drifted.Data["other-tool"] = []byte("kept")
	fill(drifted, s, URL(sec), exp, "10.128.3.7:22")
	if !InSync(drifted, s, exp, "10.128.3.7:22") || string(drifted.Data["other-tool"]) != "kept" ||
		drifted.Labels["added-by-someone"] != "fine" || len(drifted.OwnerReferences) != 1 {
		t.Fatalf("repaired: %+v", drifted)
	}
}

func TestSessionLabelValue(t *testing.T) {
	if v := SessionLabelValue("short"); v != "short" {
		t.Fatal(v)
	}
	long := strings.Repeat("a", 51) + "." + strings.Repeat("b", 100)
	v := SessionLabelValue(long)
	if len(v) > validation.LabelValueMaxLength || len(validation.IsValidLabelValue(v)) != 0 {
		t.Fatalf("invalid label value %q: %v", v, validation.IsValidLabelValue(v))
	}
	if v == SessionLabelValue(long+"c") {
		t.Fatal("different names, same label value")
	}
}

type fakeAppStream struct {
	aws.AppStreamAPI
	url     string
	expires time.Time
	err     error
	got     []any
}

func (f *fakeAppStream) CreateStreamingURL(_ context.Context, stack, fleet, user, app, sc string, v time.Duration) (string, time.Time, error) {
	f.got = []any{stack, fleet, user, app, sc, v}
	return f.url, f.expires, f.err
}

func TestMint(t *testing.T) {
	f := &fakeAppStream{url: "https://as.example/streaming/tok", expires: t0}
	m, err := Mint(context.Background(), f, MintRequest{Stack: "st", Fleet: "fl", UserID: "u", Application: "a", SessionContext: "1.2.3.4:22", Validity: time.Minute})
	if err != nil || m.URL != f.url || !m.Expires.Equal(t0) {
		t.Fatalf("%+v %v", m, err)
	}
	if fmt.Sprint(f.got) != "[st fl u a 1.2.3.4:22 1m0s]" {
		t.Fatalf("call: %v", f.got)
	}
	f.url = ""
	if _, err := Mint(context.Background(), f, MintRequest{}); err == nil {
		t.Fatal("empty URL accepted")
	}
}

type apiErr struct{ code string }

func (e apiErr) Error() string                 { return e.code + ": boom" }
func (e apiErr) ErrorCode() string             { return e.code }
func (e apiErr) ErrorMessage() string          { return "boom" }
func (e apiErr) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func TestMintErrorClassification(t *testing.T) {
	tests := map[string]struct {
		err           error
		nothingMinted bool
		final         bool
	}{
		"throttled":          {apiErr{"ThrottlingException"}, true, false},
		"fleet not running":  {apiErr{"ResourceNotAvailableException"}, true, false},
		"not associated":     {apiErr{"InvalidParameterCombinationException"}, true, false},
		"validation":         {apiErr{"ValidationException"}, true, true},
		"rate limited":       {fmt.Errorf("%w: ctx", aws.ErrRateLimited), true, false},
		"connection dropped": {errors.New("post: EOF"), false, false},
		"deadline":           {context.DeadlineExceeded, false, false},
	}
	for name, tc := range tests {
		if got := NothingMinted(tc.err); got != tc.nothingMinted {
			t.Errorf("%s: NothingMinted = %v", name, got)
		}
		if got := MintErrorIsFinal(tc.err); got != tc.final {
			t.Errorf("%s: MintErrorIsFinal = %v", name, got)
		}
	}
}

func TestRedact(t *testing.T) {
	u := "https://appstream2.example/authenticate?parameters=eyJ0eXBlIjoiRU5EX1VTRVIifQ&signature=abcdefghijklmnopqrstuvwxyz"
	msg := fmt.Sprintf("apply failed for %s (param eyJ0eXBlIjoiRU5EX1VTRVIifQ)", u)
	got := Redact(msg, u)
	if strings.Contains(got, "eyJ0eXBlIjoiRU5EX1VTRVIifQ") || strings.Contains(got, "abcdefghijklmnop") {
		t.Fatalf("not redacted: %s", got)
	}
	tok := "http://127.0.0.1:1234/streaming/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	if got := RedactError(errors.New("token AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 refused"), tok); strings.Contains(got.Error(), "AbCdEf") {
		t.Fatalf("token not redacted: %v", got)
	}
	if RedactError(nil, tok) != nil {
		t.Fatal("nil error")
	}
	if SessionContext(&accessv1alpha1.ResolvedTarget{Address: "10.0.0.1", Port: 3389}) != "10.0.0.1:3389" || SessionContext(nil) != "" {
		t.Fatal("SessionContext")
	}
}

// Every Argo CD key (argocd.argoproj.io/...) is left off the Secret, not only
// the tracking label and annotation: Argo CD acts on its other keys too
// (sync options, compare options, secret-type, managed-by…).
func TestSecretMetadataStripsEveryArgoCDKey(t *testing.T) {
	s := newSession()
	s.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{
		Labels: map[string]accessv1alpha1.LabelValue{
			"team":                           "a",
			"argocd.argoproj.io/secret-type": "repository",
			"argocd.argoproj.io/managed-by":  "argocd",
			"app.kubernetes.io/instance":     "argo-app",
			"example.com/argocd.argoproj.io": "kept",
		},
		Annotations: map[string]string{
			"note":                               "x",
			"argocd.argoproj.io/sync-options":    "Prune=true",
			"argocd.argoproj.io/compare-options": "IgnoreExtraneous",
		},
	}
	l, a := Labels(s), Annotations(s)
	for k := range l {
		if strings.HasPrefix(k, "argocd.argoproj.io/") || k == "app.kubernetes.io/instance" {
			t.Fatalf("Argo CD label %s kept: %v", k, l)
		}
	}
	for k := range a {
		if strings.HasPrefix(k, "argocd.argoproj.io/") {
			t.Fatalf("Argo CD annotation %s kept: %v", k, a)
		}
	}
	if l["team"] != "a" || l["example.com/argocd.argoproj.io"] != "kept" || a["note"] != "x" {
		t.Fatalf("other metadata dropped: %v %v", l, a)
	}
	if got := StrippedMetadata(s); len(got) != 5 {
		t.Fatalf("stripped: %v", got)
	}
	sec := NewSecret(s, "https://as.example/streaming/tok", t0, "")
	for k := range sec.Labels {
		if strings.HasPrefix(k, "argocd.argoproj.io/") {
			t.Fatalf("Secret label %s", k)
		}
	}
	for k := range sec.Annotations {
		if strings.HasPrefix(k, "argocd.argoproj.io/") {
			t.Fatalf("Secret annotation %s", k)
		}
	}
}

// The URL Secret is the session's name + "-url"; a name too long for that
// is cut and carries a hash of the whole name, always a valid Secret name.
func TestURLSecretName(t *testing.T) {
	if got := URLSecretName("s1"); got != "s1-url" {
		t.Fatalf("short name: %q", got)
	}
	fits := strings.Repeat("a", validation.DNS1123SubdomainMaxLength-len(SecretSuffix))
	if got := URLSecretName(fits); got != fits+"-url" {
		t.Fatalf("249 characters: %q", got)
	}
	long := func(n int, tail string) string { return strings.Repeat("a", n-len(tail)) + tail }
	names := []string{
		long(250, ""), long(253, ""), long(253, "b"),
		// Dots and dashes at the cut (after 238 characters) are dropped.
		strings.Repeat("a", 237) + ".b" + strings.Repeat("c", 14),
		strings.Repeat("a", 236) + "--" + strings.Repeat("c", 15),
		strings.Repeat("a.", 126) + "a",
	}
	seen := map[string]string{}
	for _, name := range names {
		got := URLSecretName(name)
		if len(got) > validation.DNS1123SubdomainMaxLength || !strings.HasSuffix(got, SecretSuffix) {
			t.Fatalf("%q: %q (%d characters)", name, got, len(got))
		}
		if errs := validation.IsDNS1123Subdomain(got); len(errs) != 0 {
			t.Fatalf("%q: %q is not a Secret name: %v", name, got, errs)
		}
		if again := URLSecretName(name); again != got {
			t.Fatalf("%q: %q then %q", name, got, again)
		}
		if other, dup := seen[got]; dup {
			t.Fatalf("%q and %q both give %q", name, other, got)
		}
		seen[got] = name
	}
	if got := URLSecretName(long(253, "")); got != strings.Repeat("a", 238)+"-"+got[239:249]+"-url" {
		t.Fatalf("253 characters: %q", got)
	}
}

// status.secretName is trusted only for the name an older gatestream used
// (the session's own): anything else gives the "-url" name.
func TestSecretName(t *testing.T) {
	s := newSession()
	if got := SecretName(s); got != "s1-url" {
		t.Fatalf("new session: %q", got)
	}
	s.Status.SecretName = "s1"
	if got := SecretName(s); got != "s1" {
		t.Fatalf("recorded by an older gatestream: %q", got)
	}
	s.Status.SecretName = "aws-credentials"
	if got := SecretName(s); got != "s1-url" {
		t.Fatalf("some other name in status: %q", got)
	}
}
