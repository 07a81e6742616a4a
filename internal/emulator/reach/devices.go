package reach

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// Devices is a registry of emulated devices the emulator can seed and the
// snapshot glue can list. A device is keyed by (BehindSIM, Address): LANs
// behind different SIMs may reuse the same private addresses. The zero
// value is ready to use; it is safe for concurrent use.
type Devices struct {
	mu sync.Mutex
	m  map[deviceKey]Device
}

type deviceKey struct {
	behindSIM string
	addr      netip.Addr
}

// Add registers d, replacing a device with the same BehindSIM and
// Address. Ports must be 1..65535; they are kept sorted and without
// duplicates.
func (r *Devices) Add(d Device) error {
	if !d.Address.IsValid() {
		return fmt.Errorf("device %q: no address", d.Name)
	}
	d.Address = d.Address.Unmap()
	ports := slices.Clone(d.TCPPorts)
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("device %q at %s: invalid TCP port %d", d.Name, d.Address, p)
		}
	}
	slices.Sort(ports)
	d.TCPPorts = slices.Compact(ports)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[deviceKey]Device{}
	}
	r.m[deviceKey{d.BehindSIM, d.Address}] = d
	return nil
}

// Remove unregisters the device at addr (behind behindSIM, "" for a SIM's
// own address) and reports whether there was one.
func (r *Devices) Remove(behindSIM string, addr netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := deviceKey{behindSIM, addr.Unmap()}
	_, ok := r.m[k]
	delete(r.m, k)
	return ok
}

// List returns copies of all devices, ordered by BehindSIM then Address,
// ready for Snapshot.Devices.
func (r *Devices) List() []Device {
	r.mu.Lock()
	out := make([]Device, 0, len(r.m))
	for _, d := range r.m {
		d.TCPPorts = slices.Clone(d.TCPPorts)
		out = append(out, d)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Device) int {
		return cmp.Or(strings.Compare(a.BehindSIM, b.BehindSIM), a.Address.Compare(b.Address))
	})
	return out
}
