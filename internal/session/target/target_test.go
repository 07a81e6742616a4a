package target

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

func groups() []accessv1alpha1.DeviceGroup {
	a := accessv1alpha1.DeviceGroup{ObjectMeta: metav1.ObjectMeta{Name: "line-a", Namespace: "team-a"}}
	a.Spec.Devices = []accessv1alpha1.Device{
		{Name: "raspi-1", Ports: []accessv1alpha1.DevicePort{{Name: "ssh", Port: 22}, {Name: "http", Port: 80}}},
		{Name: "plc-7"},
	}
	a.Status.Devices = []accessv1alpha1.DeviceStatus{{Name: "raspi-1", Online: true, Address: "10.128.3.7", Reachable: true}}
	b := accessv1alpha1.DeviceGroup{ObjectMeta: metav1.ObjectMeta{Name: "line-b", Namespace: "team-a"}}
	b.Spec.Devices = []accessv1alpha1.Device{{Name: "raspi-1"}, {Name: "cam-2"}}
	return []accessv1alpha1.DeviceGroup{a, b}
}

func TestFindDevice(t *testing.T) {
	for name, tc := range map[string]struct {
		dgs           []accessv1alpha1.DeviceGroup
		device, group string
		wantGroup     string
		kind          error
		msg           []string
	}{
		"in the named group":         {groups(), "raspi-1", "line-a", "line-a", nil, nil},
		"the other group's":          {groups(), "raspi-1", "line-b", "line-b", nil, nil},
		"unique without a group":     {groups(), "cam-2", "", "line-b", nil, nil},
		"ambiguous without a group":  {groups(), "raspi-1", "", "", ErrAmbiguous, []string{`device "raspi-1" is in 2 DeviceGroups (line-a, line-b)`}},
		"not in the named group":     {groups(), "cam-2", "line-a", "", ErrDeviceNotFound, []string{`unknown device "cam-2" in DeviceGroup "line-a"`, "raspi-1 (group line-a), plc-7 (group line-a)"}},
		"nowhere":                    {groups(), "raspi-9", "", "", ErrDeviceNotFound, []string{`unknown device "raspi-9" in namespace "team-a"`, "cam-2 (group line-b)"}},
		"group missing":              {groups(), "raspi-1", "line-z", "", ErrGroupNotFound, []string{`DeviceGroup "line-z" not found in namespace "team-a"; DeviceGroups there: line-a, line-b`}},
		"no groups":                  {nil, "raspi-1", "", "", ErrDeviceNotFound, []string{"known devices: none"}},
		"no groups, group requested": {nil, "raspi-1", "line-a", "", ErrGroupNotFound, []string{"DeviceGroups there: none"}},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := FindDevice(tc.dgs, tc.device, tc.group)
			if tc.kind == nil {
				if err != nil || d.Group.Name != tc.wantGroup || d.Spec.Name != tc.device {
					t.Fatalf("got %+v, %v", d, err)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want kind %v", err, tc.kind)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("error %q does not contain %q", err, m)
				}
			}
		})
	}
}

func TestDeviceStatusAndPort(t *testing.T) {
	d, err := FindDevice(groups(), "raspi-1", "line-a")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Online() || d.Address() != "10.128.3.7" {
		t.Fatalf("status: online %v, address %q", d.Online(), d.Address())
	}
	plc, err := FindDevice(groups(), "plc-7", "")
	if err != nil {
		t.Fatal(err)
	}
	if plc.Online() || plc.Address() != "" || plc.Status != nil {
		t.Fatalf("unreported device: %+v", plc.Status)
	}
	port := func(p intstr.IntOrString) *intstr.IntOrString { return &p }
	for name, tc := range map[string]struct {
		p    *intstr.IntOrString
		want int32
		err  string
	}{
		"none":      {nil, 0, ""},
		"by name":   {port(intstr.FromString("http")), 80, ""},
		"by number": {port(intstr.FromInt32(8022)), 8022, ""},
		"unknown":   {port(intstr.FromString("rdp")), 0, `device "raspi-1" has no port named "rdp" (its ports: ssh (22), http (80))`},
	} {
		got, err := d.Port(tc.p)
		if tc.err != "" {
			if !errors.Is(err, ErrPortNotFound) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Fatalf("%s: %d %v", name, got, err)
		}
	}
	if _, err := plc.Port(port(intstr.FromString("ssh"))); err == nil || !strings.Contains(err.Error(), "its ports: none") {
		t.Fatalf("port of a device without ports: %v", err)
	}
}

func TestGenerateName(t *testing.T) {
	for _, tc := range []struct{ user, device, want string }{
		{"user-a", "raspi-1", "user-a-raspi-1-"},
		{"Alice.Smith@example.com", "plc-7", "alice-smith-example-com-plc-7-"},
		{"__", "raspi-1", "raspi-1-"},
		{"user-a", "", "user-a-"},
		{"", "", "session-"},
		{"a-very-long-user-name-from-an-identity-provider", "a-very-long-device-name-on-a-lan", "a-very-long-user-name-fr-a-very-long-device-name-"},
	} {
		got := GenerateName(tc.user, tc.device)
		if got != tc.want {
			t.Errorf("GenerateName(%q, %q) = %q, want %q", tc.user, tc.device, got, tc.want)
		}
		// The server appends five characters.
		if errs := validation.IsDNS1123Label(got + "x7k2p"); len(errs) > 0 {
			t.Errorf("%q + suffix is not a DNS label: %v", got, errs)
		}
	}
}
