package portal

import (
	"os"
	"testing"

	"github.com/gatestream/gatestream/internal/testenv"
)

// env is the control plane shared by the package's tests.
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env))
}
