package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRequireChromiumFailsUnderCI runs a probe test in a child process with
// Chromium missing: it must fail when CI is set and skip otherwise.
func TestRequireChromiumFailsUnderCI(t *testing.T) {
	if os.Getenv("GATESTREAM_BROWSER_PROBE") == "1" {
		RequireChromium(t, "/nonexistent/chromium")
		return
	}
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") {
			base = append(base, kv)
		}
	}
	for _, tc := range []struct {
		ci      bool
		want    string
		wantErr bool
	}{{true, "--- FAIL", true}, {false, "--- SKIP", false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireChromiumFailsUnderCI$", "-test.v")
		cmd.Env = append(append([]string{}, base...), "GATESTREAM_BROWSER_PROBE=1")
		if tc.ci {
			cmd.Env = append(cmd.Env, "CI=true")
		}
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantErr || !strings.Contains(string(out), tc.want) {
			t.Errorf("CI=%v: exit error %v, output:\n%s\nwant %q", tc.ci, err, out, tc.want)
		}
	}
}
