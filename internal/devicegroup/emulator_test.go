package devicegroup_test

// The units against the SORACOM emulator served over real HTTP, driven by
// the real client: the world every unit test here starts from.

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/gatestream/gatestream/internal/devicegroup"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
)

type world struct {
	srv    *emu.Server
	faults *fault.Injector
	c      *soracom.Client
	ctx    context.Context
}

func newWorld(t *testing.T, pageSize int) *world {
	t.Helper()
	w := &world{faults: fault.New(1), ctx: context.Background()}
	w.srv = emu.New(emu.Options{Faults: w.faults, PageSize: pageSize})
	w.srv.AddOperator("OP0000000001", "keyId-unit", "secret-unit")
	ts := httptest.NewServer(w.srv.Handler())
	t.Cleanup(ts.Close)
	c, err := soracom.New(soracom.Options{Endpoint: ts.URL, Credentials: soracom.Credentials{AuthKeyID: "keyId-unit", AuthKey: "secret-unit"}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.c = c
	return w
}

func (w *world) count(op string) int { return w.faults.Count(emu.API, op) }

// fakeOwners is a cluster with the given DeviceGroups: key -> uid, and groupId -> key.
type fakeOwners struct {
	alive   map[string]string
	byGroup map[string]string
}

func (f fakeOwners) ByGroupID(_ context.Context, groupID string, self devicegroup.Owner) (string, error) {
	if k := f.byGroup[groupID]; k != "" && k != self.Key() {
		return k, nil
	}
	return "", nil
}

func (f fakeOwners) Alive(_ context.Context, key, uid string) (bool, error) {
	return f.alive[key] == uid, nil
}

var me = devicegroup.Owner{UID: "uid-me", Namespace: "line-a", Name: "devices"}
