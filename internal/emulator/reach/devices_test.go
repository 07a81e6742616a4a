package reach

import (
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"testing"
)

func TestDevices(t *testing.T) {
	var r Devices // the zero value is usable
	if got := r.List(); len(got) != 0 {
		t.Fatalf("empty registry lists %v", got)
	}
	steps := []struct {
		name    string
		add     *Device
		remove  *Device // BehindSIM and Address
		wantErr bool
		removed bool
		want    []Device
	}{
		{name: "add a SIM device", add: &Device{Address: devAddr, TCPPorts: []int{22, 80, 22}, Name: "sensor"},
			want: []Device{{Address: devAddr, TCPPorts: []int{22, 80}, Name: "sensor"}}},
		{name: "add a LAN device", add: &Device{Address: lanAddr, BehindSIM: simRouter, TCPPorts: []int{502}, Name: "plc"},
			want: []Device{{Address: devAddr, TCPPorts: []int{22, 80}, Name: "sensor"},
				{Address: lanAddr, BehindSIM: simRouter, TCPPorts: []int{502}, Name: "plc"}}},
		{name: "same LAN address behind another SIM is another device",
			add: &Device{Address: lanAddr, BehindSIM: simDevice, TCPPorts: []int{80}},
			want: []Device{{Address: devAddr, TCPPorts: []int{22, 80}, Name: "sensor"},
				{Address: lanAddr, BehindSIM: simDevice, TCPPorts: []int{80}},
				{Address: lanAddr, BehindSIM: simRouter, TCPPorts: []int{502}, Name: "plc"}}},
		{name: "re-adding replaces", add: &Device{Address: devAddr, TCPPorts: []int{23}, Name: "sensor2"},
			want: []Device{{Address: devAddr, TCPPorts: []int{23}, Name: "sensor2"},
				{Address: lanAddr, BehindSIM: simDevice, TCPPorts: []int{80}},
				{Address: lanAddr, BehindSIM: simRouter, TCPPorts: []int{502}, Name: "plc"}}},
		{name: "invalid port", add: &Device{Address: devAddr, TCPPorts: []int{0}}, wantErr: true,
			want: []Device{{Address: devAddr, TCPPorts: []int{23}, Name: "sensor2"},
				{Address: lanAddr, BehindSIM: simDevice, TCPPorts: []int{80}},
				{Address: lanAddr, BehindSIM: simRouter, TCPPorts: []int{502}, Name: "plc"}}},
		{name: "no address", add: &Device{TCPPorts: []int{22}}, wantErr: true,
			want: []Device{{Address: devAddr, TCPPorts: []int{23}, Name: "sensor2"},
				{Address: lanAddr, BehindSIM: simDevice, TCPPorts: []int{80}},
				{Address: lanAddr, BehindSIM: simRouter, TCPPorts: []int{502}, Name: "plc"}}},
		{name: "remove", remove: &Device{Address: lanAddr, BehindSIM: simDevice}, removed: true,
			want: []Device{{Address: devAddr, TCPPorts: []int{23}, Name: "sensor2"},
				{Address: lanAddr, BehindSIM: simRouter, TCPPorts: []int{502}, Name: "plc"}}},
		{name: "remove again", remove: &Device{Address: lanAddr, BehindSIM: simDevice}, removed: false,
			want: []Device{{Address: devAddr, TCPPorts: []int{23}, Name: "sensor2"},
				{Address: lanAddr, BehindSIM: simRouter, TCPPorts: []int{502}, Name: "plc"}}},
	}
	for _, st := range steps {
		if st.add != nil {
			err := r.Add(*st.add)
			if (err != nil) != st.wantErr {
				t.Fatalf("%s: Add err = %v", st.name, err)
			}
		}
		if st.remove != nil {
			if got := r.Remove(st.remove.BehindSIM, st.remove.Address); got != st.removed {
				t.Fatalf("%s: Remove = %v", st.name, got)
			}
		}
		if got := r.List(); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("%s: List =\n%v\nwant\n%v", st.name, got, st.want)
		}
	}
	// List hands out copies.
	l := r.List()
	l[0].TCPPorts[0] = 9999
	if r.List()[0].TCPPorts[0] != 23 {
		t.Error("List shares port slices")
	}
	// A registry feeds a snapshot directly.
	s := world()
	var reg Devices
	for _, d := range s.Devices {
		if err := reg.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	s.Devices = reg.List()
	if res := Walk(s, src, lanAddr, 502); !res.Reachable {
		t.Errorf("walk over registry devices: %s", res)
	}
}

func TestDevicesConcurrent(t *testing.T) {
	var r Devices
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				a := netip.AddrFrom4([4]byte{192, 168, byte(g), byte(i)})
				if err := r.Add(Device{Address: a, BehindSIM: fmt.Sprint("sim-", g), TCPPorts: []int{22}}); err != nil {
					t.Error(err)
				}
				_ = r.List()
				if i%2 == 0 {
					r.Remove(fmt.Sprint("sim-", g), a)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(r.List()); n != 8*25 {
		t.Errorf("%d devices, want %d", n, 8*25)
	}
}
