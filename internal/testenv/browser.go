package testenv

import (
	"os"
	"testing"
)

// RequireChromium gates a test that drives the Chromium at path (Debian's
// /usr/bin/chromium, which hack/install-test-deps.sh installs). Without it
// the test is skipped, saying why, unless $CI is set: CI must run the
// browser tests, so there a missing Chromium fails the test instead of
// hiding it.
func RequireChromium(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		const how = "install Debian's chromium (apt-get install -y chromium; `make test` does it as root through hack/install-test-deps.sh)"
		if _, ci := os.LookupEnv("CI"); ci {
			t.Fatalf("CI is set but %s is missing (%v): %s; browser tests must run in CI", path, err, how)
		}
		t.Skipf("%s not found (%v): %s to run this browser test", path, err, how)
	}
}
