package main

import (
	"context"
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator"
)

// pathLines describes the data path of the sample session twice: as the
// operator checked it hop by hop (the DeviceGroup's status, from the
// environment's observations), and as the emulator's own packet walker sees
// the emulated world (the router's behaviour taken from its user data).
func pathLines(ctx context.Context, c client.Client, cloud *emulator.Cloud, envKey, dgKey types.NamespacedName, s *accessv1alpha1.StreamingSession) []string {
	var env accessv1alpha1.RemoteAccessEnvironment
	var dg accessv1alpha1.DeviceGroup
	if err := c.Get(ctx, envKey, &env); err != nil {
		return []string{fmt.Sprintf("path: reading %s: %v", envKey, err)}
	}
	if err := c.Get(ctx, dgKey, &dg); err != nil {
		return []string{fmt.Sprintf("path: reading %s: %v", dgKey, err)}
	}
	var out []string
	for _, r := range env.Status.Routers {
		out = append(out, fmt.Sprintf("router %s (%s in %s, inner %s, %s) launched by the operator as a Gate peer",
			r.InstanceID, r.PrivateIPAddress, r.SubnetID, r.InnerIPAddress, r.State))
	}
	if s == nil || s.Spec.Target == nil || s.Status.Target == nil {
		return out
	}
	for _, d := range dg.Status.Devices {
		if d.Name == s.Spec.Target.Device {
			out = append(out, fmt.Sprintf("path of %s to %s (the operator, hop by hop): %s", s.Name, d.Name, d.Path))
		}
	}
	to, err := netip.ParseAddr(s.Status.Target.Address)
	if err != nil || env.Status.Fleet == nil || len(env.Spec.AppStream.Fleet.SubnetIDs) == 0 {
		return out
	}
	res := cloud.Reach(env.Status.Fleet.Name, env.Spec.AppStream.Fleet.SubnetIDs[0], netip.Addr{}, to, int(s.Status.Target.Port))
	return append(out, fmt.Sprintf("path of %s (the emulator's packet walker, from the router's user data): %s", s.Name, res.String()))
}
