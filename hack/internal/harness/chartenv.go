package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/gatestream/gatestream/internal/repo"
)

// ChartEnv is the environment the chart's default values give the manager
// container (today GOMEMLIMIT, from goMemLimit): the bench and the chaos
// suite run the manager as it is shipped, read from the chart so that the
// two cannot drift apart. Read once: the chaos suite starts the manager
// dozens of times.
var ChartEnv = sync.OnceValues(readChartEnv)

func readChartEnv() ([]string, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, "charts", "gatestream", "values.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v struct {
		GoMemLimit string `json:"goMemLimit"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if v.GoMemLimit == "" {
		return nil, nil
	}
	return []string{"GOMEMLIMIT=" + v.GoMemLimit}, nil
}
