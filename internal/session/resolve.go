// Package session holds the StreamingSession controller as a pure decision
// plus units. Decide (decide.go) takes what a pass observed (the session, the
// resolution of its environment and target, its Secret, the user's AppStream
// sessions when it asked for them, the time) and returns the one next Step
// and the status to record; OnError is the one error policy. The units carry
// the steps out: Secrets (the session's Secret), UserSessions (the user's
// AppStream sessions) and Issue (one CreateStreamingURL into a new Secret).
// The controller (controllers/streamingsession_controller.go) reads, decides,
// executes, records and schedules. The device resolver and the naming rule
// that the portal and the plugin share live in internal/session/target.
package session

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/session/target"
)

// Outcome of a resolution.
type Outcome int

const (
	// Resolved: everything needed to mint is known.
	Resolved Outcome = iota
	// Wait: something the session needs is missing or not ready yet; Pending.
	Wait
	// Fail: the request can never be served (the spec is immutable); Failed.
	Fail
)

// Resolution is what a session's references resolved to.
type Resolution struct {
	Outcome Outcome
	// Reason and Message explain Wait and Fail.
	Reason, Message string
	// Fleet and Stack are the environment's AppStream names.
	Fleet, Stack string
	// Target is the device's address and port (nil without spec.target).
	Target *accessv1alpha1.ResolvedTarget
	// Limits are the environment's spec.sessionLimits (defaults filled in).
	Limits accessv1alpha1.SessionLimits
	// Capacity is the environment's fleet under capacity Demand (nil: Fixed).
	Capacity *Capacity
	// Napter is where a Napter session's mapping leads (via: Napter only).
	Napter *NapterTarget
}

func wait(reason, format string, args ...any) Resolution {
	return Resolution{Outcome: Wait, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func fail(reason, format string, args ...any) Resolution {
	return Resolution{Outcome: Fail, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ResolveEnvironment checks the environment (nil: not found) and returns its
// fleet and stack. Only a Ready environment can fail a session (application
// not offered): while it is not Ready its spec may still be converging.
func ResolveEnvironment(s *accessv1alpha1.StreamingSession, env *accessv1alpha1.RemoteAccessEnvironment) Resolution {
	name := s.Spec.EnvironmentRef.Name
	if env == nil {
		return wait(accessv1alpha1.SessionReasonEnvironmentNotFound,
			"waiting for RemoteAccessEnvironment %q in namespace %s", name, s.Namespace)
	}
	if !conditions.IsTrue(env.Status.Conditions, accessv1alpha1.ConditionReady) {
		msg := "waiting for RemoteAccessEnvironment %q to be Ready"
		if c := conditions.Get(env.Status.Conditions, accessv1alpha1.ConditionReady); c != nil && c.Reason != "" {
			return wait(accessv1alpha1.SessionReasonEnvironmentNotReady, msg+" (it is %s: %s)", name, c.Reason, c.Message)
		}
		return wait(accessv1alpha1.SessionReasonEnvironmentNotReady, msg, name)
	}
	if !slices.Contains(env.Spec.AppStream.Applications, s.Spec.Application) {
		return fail(accessv1alpha1.SessionReasonApplicationNotOffered,
			"RemoteAccessEnvironment %q does not offer application %q (it offers: %s); create a session for one of those",
			name, s.Spec.Application, strings.Join(env.Spec.AppStream.Applications, ", "))
	}
	fleet, stack := FleetAndStack(env)
	if fleet == "" || stack == "" {
		return wait(accessv1alpha1.SessionReasonEnvironmentNotReady,
			"waiting for RemoteAccessEnvironment %q to report its AppStream fleet and stack", name)
	}
	return Resolution{Outcome: Resolved, Fleet: fleet, Stack: stack}
}

// FleetAndStack returns the environment's observed AppStream fleet and stack names.
func FleetAndStack(env *accessv1alpha1.RemoteAccessEnvironment) (fleet, stack string) {
	if env == nil {
		return "", ""
	}
	if env.Status.Fleet != nil {
		fleet = env.Status.Fleet.Name
	}
	if env.Status.Stack != nil {
		stack = env.Status.Stack.Name
	}
	return fleet, stack
}

// Resolve resolves the environment (nil: not found) and, once it resolves,
// spec.target in its DeviceGroup (nil: not found): what Decide needs to mint.
func Resolve(s *accessv1alpha1.StreamingSession, env *accessv1alpha1.RemoteAccessEnvironment, dg *accessv1alpha1.DeviceGroup) Resolution {
	if target.ViaNapter(s) {
		return ResolveNapter(s, env, dg)
	}
	res := ResolveEnvironment(s, env)
	if res.Outcome != Resolved {
		return res
	}
	t, tres := ResolveTarget(s, env, dg)
	tres.Fleet, tres.Stack, tres.Target, tres.Limits = res.Fleet, res.Stack, t, limitsOf(env)
	tres.Capacity = capacityOf(env)
	return tres
}

// ResolveTarget resolves spec.target in its DeviceGroup (nil: not found) to an
// address and port, by the rule the portal and the plugin use
// (target.FindDevice), and requires env's path check to have found the
// device reachable at that address. A session without a target resolves to nil.
func ResolveTarget(s *accessv1alpha1.StreamingSession, env *accessv1alpha1.RemoteAccessEnvironment, dg *accessv1alpha1.DeviceGroup) (*accessv1alpha1.ResolvedTarget, Resolution) {
	t := s.Spec.Target
	if t == nil {
		return nil, Resolution{Outcome: Resolved}
	}
	if dg == nil {
		return nil, wait(accessv1alpha1.SessionReasonDeviceGroupNotFound,
			"waiting for DeviceGroup %q in namespace %s", t.DeviceGroup, s.Namespace)
	}
	if env := dg.Spec.EnvironmentRef.Name; env != s.Spec.EnvironmentRef.Name {
		return nil, fail(accessv1alpha1.SessionReasonDeviceGroupNotInEnvironment,
			"DeviceGroup %q belongs to RemoteAccessEnvironment %q, not %q: its devices are not reachable from this environment's fleet",
			t.DeviceGroup, env, s.Spec.EnvironmentRef.Name)
	}
	dev, err := target.FindDevice([]accessv1alpha1.DeviceGroup{*dg}, t.Device, dg.Name)
	if err != nil {
		return nil, fail(accessv1alpha1.SessionReasonDeviceNotFound, "%v", err)
	}
	port, err := dev.Port(t.Port)
	if err != nil {
		return nil, fail(accessv1alpha1.SessionReasonPortNotFound, "%v", err)
	}
	switch {
	case dev.Address() == "":
		return nil, wait(accessv1alpha1.SessionReasonDeviceAddressUnknown,
			"waiting for DeviceGroup %q to report the address of device %q", t.DeviceGroup, t.Device)
	case !dev.Online():
		return nil, wait(accessv1alpha1.SessionReasonDeviceOffline,
			"waiting for device %q of DeviceGroup %q to come online (its SIM has no session)", t.Device, t.DeviceGroup)
	}
	var paths []accessv1alpha1.DevicePath
	if env != nil && env.Status.Path != nil {
		paths = env.Status.Path.Devices
	}
	if ok, why := dev.ReachableFrom(paths); !ok {
		// A URL to a device the fleet cannot reach would be a Ready that lies.
		return nil, wait(accessv1alpha1.SessionReasonDeviceUnreachable,
			"waiting for device %q of DeviceGroup %q to be reachable from the fleet: %s", t.Device, t.DeviceGroup, why)
	}
	return &accessv1alpha1.ResolvedTarget{Address: dev.Address(), Port: port}, Resolution{Outcome: Resolved}
}

// TargetString is "address:port", or the address alone without a port. It is
// both the Secret's target key and the URL's SessionContext.
func TargetString(t *accessv1alpha1.ResolvedTarget) string {
	if t == nil {
		return ""
	}
	if t.Port == 0 {
		return t.Address
	}
	return net.JoinHostPort(t.Address, strconv.Itoa(int(t.Port)))
}

// SessionContext is what CreateStreamingURL passes to the application
// (APPSTREAM_SESSION_CONTEXT): the target as address:port. It is a convenience,
// not a security boundary: AppStream shows it to the user in the URL and lets
// them edit it, so it never carries anything secret and the network (Gate,
// security groups) decides what the instance can reach.
func SessionContext(t *accessv1alpha1.ResolvedTarget) string { return TargetString(t) }
