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
