package plugin_test

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// krewPlugin is the part of krew's Plugin manifest (index.Plugin,
// apiVersion krew.googlecontainertools.github.com/v1alpha2) that krew validates.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector *metav1.LabelSelector `json:"selector"`
			URI      string                `json:"uri"`
			Sha256   string                `json:"sha256"`
			Bin      string                `json:"bin"`
			Files    []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

var (
	krewName    = regexp.MustCompile(`^[\w-]+$`)
	krewSHA256  = regexp.MustCompile(`^[a-f0-9]{64}$`)
	krewVersion = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// TestKrewManifest checks plugins/gatestream.yaml as krew validates a plugin
// manifest (supported apiVersion and kind, a safe name equal to the file's,
// a one-line short description, a semver version with a leading v, and for
// each platform an os/arch selector, a URI, a SHA-256 sum, the binary and its
// file operations), and that it covers linux and darwin on amd64 and arm64
// with archives of this release of kubectl-gatestream.
func TestKrewManifest(t *testing.T) {
	path := filepath.Join(env.Root, "plugins", "gatestream.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p krewPlugin
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" {
		t.Errorf("apiVersion %q, kind %q", p.APIVersion, p.Kind)
	}
	if name := strings.TrimSuffix(filepath.Base(path), ".yaml"); p.Metadata.Name != name || !krewName.MatchString(name) {
		t.Errorf("metadata.name %q: must be the file's name %q (%s)", p.Metadata.Name, name, krewName)
	}
	s := p.Spec
	if s.ShortDescription == "" || strings.ContainsAny(s.ShortDescription, "\r\n") {
		t.Errorf("shortDescription %q: required, one line", s.ShortDescription)
	}
	if s.Description == "" {
		t.Error("no description")
	}
	if !krewVersion.MatchString(s.Version) {
		t.Errorf("version %q is not a semantic version with a leading v", s.Version)
	}
	if u, err := url.Parse(s.Homepage); err != nil || u.Scheme != "https" || u.Host == "" {
		t.Errorf("homepage %q", s.Homepage)
	}

	want := map[string]bool{"linux/amd64": false, "linux/arm64": false, "darwin/amd64": false, "darwin/arm64": false}
	for i, pl := range s.Platforms {
		if pl.Selector == nil || len(pl.Selector.MatchLabels) == 0 || len(pl.Selector.MatchExpressions) != 0 {
			t.Errorf("platform %d: selector %+v: want matchLabels os and arch", i, pl.Selector)
			continue
		}
		for k := range pl.Selector.MatchLabels {
			if k != "os" && k != "arch" {
				t.Errorf("platform %d: selector key %q (krew supports os and arch)", i, k)
			}
		}
		sel, err := metav1.LabelSelectorAsSelector(pl.Selector)
		if err != nil {
			t.Errorf("platform %d: %v", i, err)
			continue
		}
		var matched []string
		for osArch := range want {
			goos, goarch, _ := strings.Cut(osArch, "/")
			if sel.Matches(labels.Set{"os": goos, "arch": goarch}) {
				matched = append(matched, osArch)
			}
		}
		if len(matched) != 1 || want[matched[0]] {
			t.Errorf("platform %d selects %v: want exactly one os/arch not selected before", i, matched)
			continue
		}
		osArch := matched[0]
		want[osArch] = true
		archive := "kubectl-gatestream_" + strings.ReplaceAll(osArch, "/", "_") + ".tar.gz"
		if u, err := url.Parse(pl.URI); err != nil || u.Scheme != "https" || !strings.HasSuffix(u.Path, "/releases/download/"+s.Version+"/"+archive) {
			t.Errorf("%s: uri %q: want https://…/releases/download/%s/%s", osArch, pl.URI, s.Version, archive)
		}
		if !krewSHA256.MatchString(pl.Sha256) {
			t.Errorf("%s: sha256 %q does not match %s", osArch, pl.Sha256, krewSHA256)
		}
		if pl.Bin != "kubectl-gatestream" {
			t.Errorf("%s: bin %q, want kubectl-gatestream", osArch, pl.Bin)
		}
		installed := false
		for _, f := range pl.Files {
			if f.From == "" || f.To == "" {
				t.Errorf("%s: file operation %+v needs from and to", osArch, f)
			}
			installed = installed || (f.From == pl.Bin && f.To == ".")
		}
		if pl.Files != nil && !installed {
			t.Errorf("%s: files %+v do not install %s", osArch, pl.Files, pl.Bin)
		}
	}
	for osArch, ok := range want {
		if !ok {
			t.Errorf("no platform for %s", osArch)
		}
	}
	// The binary krew installs is the one cmd/kubectl-gatestream builds.
	if _, err := os.Stat(filepath.Join(env.Root, "cmd", "kubectl-gatestream", "main.go")); err != nil {
		t.Error(err)
	}
}
