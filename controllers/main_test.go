package controllers_test

import (
	"os"
	"testing"

	"github.com/gatestream/gatestream/internal/testenv"
)

// env is the control plane (kube-apiserver + etcd with the CRDs) shared by
// every test of the package.
var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// emulatorEndpoints lets the managers under test send credentials to the
// in-process emulators (every one of them listens on 127.0.0.1).
var emulatorEndpoints = []string{"http://127.0.0.1"}
