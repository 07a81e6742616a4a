package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/repo"
)

func generate(t *testing.T) (root string, md []byte) {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	md, err = Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, md
}

// TestCommittedReferenceIsCurrent fails when docs/api-reference.md is not
// what the generator makes of the current CRDs and types.
func TestCommittedReferenceIsCurrent(t *testing.T) {
	root, want := generate(t)
	got, err := os.ReadFile(filepath.Join(root, "docs", "api-reference.md"))
	if err != nil {
		t.Fatalf("%v: run `make api-docs`", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("docs/api-reference.md is stale: run `make api-docs` (or `go run ./hack/gen-api-docs -out docs/api-reference.md`).\nfirst difference at line %d:\ncommitted: %s\ngenerated: %s", i+1, g, w)
		}
	}
}

var (
	sectionRE = regexp.MustCompile("^### ([A-Za-z]+) `([^`]+)`$")
	fieldRE   = regexp.MustCompile("^\\| `([^`]+)`")
)

// documentedFields reads the generated Markdown back: kind and object path -> field names.
func documentedFields(md []byte) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var cur map[string]bool
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			cur = nil
		}
		if m := sectionRE.FindStringSubmatch(line); m != nil {
			cur = map[string]bool{}
			out[m[1]+" "+m[2]] = cur
			continue
		}
		if m := fieldRE.FindStringSubmatch(line); m != nil && cur != nil {
			cur[m[1]] = true
		}
	}
	return out
}

// apiFields lists every JSON field below t (as "path field"), descending
// into the API package's own structs, slices and maps of them.
func apiFields(t reflect.Type, path string, out *[]string) {
	apiPkg := reflect.TypeFor[accessv1alpha1.DeviceGroup]().PkgPath()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		apiFields(t.Elem(), path+"[]", out)
		return
	case reflect.Map:
		apiFields(t.Elem(), path+".*", out)
		return
	case reflect.Struct:
		if t.PkgPath() != apiPkg {
			return
		}
	default:
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		*out = append(*out, path+" "+name)
		apiFields(f.Type, path+"."+name, out)
	}
}

// TestEveryFieldIsDocumented checks, from the Go types, that every field of
// the three kinds' spec and status has a row in its object's section.
func TestEveryFieldIsDocumented(t *testing.T) {
	_, md := generate(t)
	docs := documentedFields(md)
	kinds := map[string]reflect.Type{
		"RemoteAccessEnvironment": reflect.TypeFor[accessv1alpha1.RemoteAccessEnvironment](),
		"DeviceGroup":             reflect.TypeFor[accessv1alpha1.DeviceGroup](),
		"StreamingSession":        reflect.TypeFor[accessv1alpha1.StreamingSession](),
	}
	for kind, typ := range kinds {
		for _, part := range []string{"Spec", "Status"} {
			f, ok := typ.FieldByName(part)
			if !ok {
				t.Fatalf("%s has no %s", kind, part)
			}
			var fields []string
			apiFields(f.Type, "."+strings.ToLower(part), &fields)
			if len(fields) == 0 {
				t.Fatalf("%s.%s: no fields found", kind, part)
			}
			for _, pf := range fields {
				path, field, _ := strings.Cut(pf, " ")
				section, ok := docs[kind+" "+path]
				if !ok {
					t.Errorf("%s: no section for `%s` (holding %s)", kind, path, field)
					continue
				}
				if !section[field] {
					t.Errorf("%s: field `%s.%s` is not documented", kind, path, field)
				}
			}
		}
	}
}

// TestValidationIsRendered spot-checks defaults, enums, patterns, bounds and CEL messages.
func TestValidationIsRendered(t *testing.T) {
	_, md := generate(t)
	s := string(md)
	for _, want := range []string{
		"| `deletionPolicy` | string | `Delete` |", // default
		"one of `Delete`, `Orphan`",                // enum
		"pattern `^vpg-[A-Za-z0-9]+$`",             // pattern
		"“each Gate peer's innerIpAddress must lie inside gateway.deviceSubnetCidrRange”", // CEL message
		"`userId` **required** | string |",                                         // required
		"list map keyed by `name`",                                                 // list type
		"[DevicePort](#devicegroup-spec-devices-items-ports-items)",                // nested link
		"| `port` | int or string |",                                               // int-or-string
		"| `access.gatestream.io/poll-interval` |",                                 // constants
		"| Short names | `rae` |",                                                  // names
		"“a StreamingSession's spec is immutable; delete it and create a new one”", // object rule
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
}
