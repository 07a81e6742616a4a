// Package target is the one rule, shared by the StreamingSession controller,
// the portal and the kubectl plugin, for which device a session targets
// (FindDevice, Device.Port) and what a new session is called (GenerateName).
// It imports only the API types, so that the portal and the plugin do not
// link the AWS SDK that the rest of internal/session needs.
package target

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// Kinds of resolution errors (errors.Is).
var (
	ErrGroupNotFound  = errors.New("DeviceGroup not found")
	ErrDeviceNotFound = errors.New("device not found")
	ErrAmbiguous      = errors.New("device is in several DeviceGroups")
	ErrPortNotFound   = errors.New("port not found")
)

// Error is a resolution error: a message for people, and its kind.
type Error struct {
	Kind error
	msg  string
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, format string, args ...any) error {
	return &Error{Kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Device is a device found in its DeviceGroup.
type Device struct {
	Group *accessv1alpha1.DeviceGroup
	Spec  *accessv1alpha1.Device
	// Status is the group's status entry for the device (nil: not reported yet).
	Status *accessv1alpha1.DeviceStatus
}

// Online reports whether the group reports the device's SIM online.
func (d Device) Online() bool { return d.Status != nil && d.Status.Online }

// Address is the device's address as the group reports it ("" if unknown).
func (d Device) Address() string {
	if d.Status == nil {
		return ""
	}
	return d.Status.Address
}

// ReachableFrom reports whether the environment's path check (paths: its
// status.path.devices) found every hop from the fleet to the device open, at
// the address the group reports now, and otherwise why not. It reads the
// environment's observation directly, so a session need not wait for the
// group to copy it into its own status.
func (d Device) ReachableFrom(paths []accessv1alpha1.DevicePath) (bool, string) {
	for _, p := range paths {
		if p.DeviceGroup == d.Group.Name && p.Device == d.Spec.Name {
			return CheckedAt(p, d.Address())
		}
	}
	return false, NotChecked
}

// NotChecked says that the environment has not walked the path to a device.
const NotChecked = "not checked yet: the environment has not walked the path to this device"

// CheckedAt is the one rule for trusting the environment's check of a
// device's path (p): only at the address it was walked to. It reports
// whether the path is open at address, and otherwise why not.
func CheckedAt(p accessv1alpha1.DevicePath, address string) (bool, string) {
	switch {
	case p.Address == "" && address != "":
		return false, fmt.Sprintf("not checked yet at %s: the environment checked the device before its address was known", address)
	case p.Address != address:
		return false, fmt.Sprintf("not checked yet at %s: the environment walked the path to %s", address, p.Address)
	}
	return p.Reachable, p.Path
}

// FindDevice finds the device named device among dgs (the DeviceGroups of
// one namespace): in the DeviceGroup named group, or, with group empty, in
// the only DeviceGroup that has a device of that name. The error says what
// is missing or ambiguous and lists what exists.
func FindDevice(dgs []accessv1alpha1.DeviceGroup, device, group string) (Device, error) {
	where := "namespace"
	if len(dgs) > 0 {
		where = fmt.Sprintf("namespace %q", dgs[0].Namespace)
	}
	if group != "" {
		for i := range dgs {
			if dgs[i].Name == group {
				return find(dgs[i:i+1], device, fmt.Sprintf("DeviceGroup %q", group))
			}
		}
		names := make([]string, 0, len(dgs))
		for _, g := range dgs {
			names = append(names, g.Name)
		}
		return Device{}, newError(ErrGroupNotFound, "DeviceGroup %q not found in %s; DeviceGroups there: %s", group, where, listOrNone(names))
	}
	return find(dgs, device, where)
}

// find looks for device in groups; where names them in messages.
func find(groups []accessv1alpha1.DeviceGroup, device, where string) (Device, error) {
	var found []Device
	var known, in []string
	for i := range groups {
		g := &groups[i]
		for j := range g.Spec.Devices {
			d := &g.Spec.Devices[j]
			known = append(known, fmt.Sprintf("%s (group %s)", d.Name, g.Name))
			if d.Name == device {
				found = append(found, Device{Group: g, Spec: d, Status: status(g, device)})
				in = append(in, g.Name)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Device{}, newError(ErrDeviceNotFound, "unknown device %q in %s; known devices: %s", device, where, listOrNone(known))
	}
	return Device{}, newError(ErrAmbiguous, "device %q is in %d DeviceGroups (%s)", device, len(found), strings.Join(in, ", "))
}

func status(g *accessv1alpha1.DeviceGroup, device string) *accessv1alpha1.DeviceStatus {
	for i := range g.Status.Devices {
		if g.Status.Devices[i].Name == device {
			return &g.Status.Devices[i]
		}
	}
	return nil
}

// Port resolves a port of the device: a number is used as is, a name must be
// one of the device's ports; nil is no port (0).
func (d Device) Port(p *intstr.IntOrString) (int32, error) {
	if p == nil {
		return 0, nil
	}
	if p.Type == intstr.Int {
		return p.IntVal, nil
	}
	names := make([]string, 0, len(d.Spec.Ports))
	for _, dp := range d.Spec.Ports {
		if dp.Name == p.StrVal {
			return dp.Port, nil
		}
		names = append(names, fmt.Sprintf("%s (%d)", dp.Name, dp.Port))
	}
	return 0, newError(ErrPortNotFound, "device %q has no port named %q (its ports: %s); name one of those or give a number",
		d.Spec.Name, p.StrVal, listOrNone(names))
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// dnsUnsafe matches runs of characters not allowed in a DNS-1123 label.
var dnsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// GenerateName is the metadata.generateName of a new session of user on
// device: "<user>-<device>-" made into a DNS-1123 label (lower case, other
// characters folded to "-", each part at most 24 characters), so that the
// server's five-character suffix still fits a label, and so does the Secret
// named after the session. Without usable characters it is "session-".
func GenerateName(user, device string) string {
	var parts []string
	for _, p := range []string{user, device} {
		p = strings.Trim(dnsUnsafe.ReplaceAllString(strings.ToLower(p), "-"), "-")
		if len(p) > 24 {
			p = strings.TrimRight(p[:24], "-")
		}
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "session-"
	}
	return strings.Join(parts, "-") + "-"
}

// RangeOutside returns the first of ranges (IPv4 CIDRs) that does not lie
// inside one of allowed (an environment's spec.napter.allowedSourceRanges),
// and false when every one does or allowed is empty (no restriction). A
// range that does not parse is outside.
func RangeOutside(ranges, allowed []string) (string, bool) {
	if len(allowed) == 0 {
		return "", false
	}
	for _, r := range ranges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return r, true
		}
		if !slices.ContainsFunc(allowed, func(a string) bool {
			ap, err := netip.ParsePrefix(a)
			return err == nil && ap.Bits() <= p.Bits() && ap.Contains(p.Addr())
		}) {
			return r, true
		}
	}
	return "", false
}
