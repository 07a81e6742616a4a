package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/gatestream/gatestream/controllers"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/testenv"
)

// TestEnvironmentInSyncPassMakesNoAPIRequestAndReadsEachObjectOnce: with the
// manager's wiring (credential Secrets from their own informer), a pass over
// an environment that is in sync makes no request to the API server, and
// reads each cloud object once (the route tables of the VPC in one listing
// shared by the units that check routes).
func TestEnvironmentInSyncPassMakesNoAPIRequestAndReadsEachObjectOnce(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	requests := &testenv.RequestCounter{}
	opts := manager.DefaultOptions()
	opts.WatchNamespaces = []string{h.ns}
	h.mgr = testenv.RunManager(t, testenv.Counting(env, requests), opts, func(m *manager.Manager) error {
		factory, err := clients.ForManager(m, opts.WatchNamespaces, clients.Options{SoracomCallsPerSecond: 1000, AWSCallsPerSecond: 1000, AllowedEndpoints: emulatorEndpoints})
		if err != nil {
			return err
		}
		return (&controllers.RemoteAccessEnvironmentReconciler{
			Client: m.GetClient(), Clients: factory, Recorder: m.GetEventRecorder("gatestream-remoteaccessenvironment"),
			Clock: clock.RealClock{}, PollInterval: time.Hour, TransitionWait: 100 * time.Millisecond, MaxConcurrentReconciles: 1,
		}).SetupWithManager(m)
	})
	h.create(h.sampleEnv("factory-floor"))
	rv := h.waitReady("factory-floor", 60*time.Second).ResourceVersion
	// The pass after Ready was written has labelled the Secrets: from now on
	// they come from the credentials informer.
	testenv.Eventually(t, 10*time.Second, "status settled", func() error {
		if got := h.get("factory-floor").ResourceVersion; got != rv {
			rv = got
			return fmt.Errorf("still writing")
		}
		return nil
	})

	before := requests.Snapshot()
	mark := len(h.cloud.Faults.Calls(fault.Any, fault.Any))
	h.poke("factory-floor") // a pass now (the poll interval is an hour)
	var pass []fault.Call
	testenv.Eventually(t, 10*time.Second, "the pass reads the association, its last object", func() error {
		pass = h.cloud.Faults.Calls(fault.Any, fault.Any)[mark:]
		if len(pass) == 0 || pass[len(pass)-1].Op != "ListAssociatedFleets" {
			return fmt.Errorf("%d calls so far", len(pass))
		}
		return nil
	})
	testenv.Consistently(t, time.Second, "no API-server request from the in-sync pass", func() error {
		if got := requests.Since(before); len(got) > 0 {
			return fmt.Errorf("requests: %s", testenv.Format(got))
		}
		return nil
	})
	perOp := map[string]int{}
	var ops []string
	for _, c := range pass {
		perOp[c.API+"."+c.Op]++
		ops = append(ops, c.API+"."+c.Op)
	}
	for op, n := range perOp {
		if n != 1 {
			t.Errorf("%s called %d times in one in-sync pass; want each object read once", op, n)
		}
		if !isRead(strings.TrimPrefix(op, op[:strings.Index(op, ".")+1])) {
			t.Errorf("in-sync pass made a write call: %s", op)
		}
	}
	t.Logf("in-sync pass: 0 API-server requests; %d cloud calls (%s)", len(pass), strings.Join(ops, ", "))
}
