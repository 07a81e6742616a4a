package argocd

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	"github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/repo"
)

// configDir is config/argocd in this repository.
func configDir(t *testing.T) string {
	t.Helper()
	dir, err := repo.Path(filepath.FromSlash(Dir))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// healthStatus is Argo CD's health.HealthStatus as a script returns it.
type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// healthTests is a health_test.yaml, as read by Argo CD's util/lua/health_test.go.
type healthTests struct {
	Tests []struct {
		InputPath    string       `json:"inputPath"`
		HealthStatus healthStatus `json:"healthStatus"`
	} `json:"tests"`
}

// minCases is how many cases each kind's health_test.yaml must at least list.
var minCases = map[string]int{
	"RemoteAccessEnvironment": 8,
	"DeviceGroup":             6,
	"StreamingSession":        7,
}

// typed returns an empty object of the kind, to decode test inputs strictly.
func typed(kind string) any {
	switch kind {
	case "RemoteAccessEnvironment":
		return &v1alpha1.RemoteAccessEnvironment{}
	case "DeviceGroup":
		return &v1alpha1.DeviceGroup{}
	case "StreamingSession":
		return &v1alpha1.StreamingSession{}
	}
	return nil
}

// Argo CD's health statuses (gitops-engine health.HealthStatusCode).
var validStatus = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true,
	"Suspended": true, "Missing": true, "Unknown": true,
}

// luaMode is how Argo CD opens the Lua state.
type luaMode struct {
	name string
	// openLibs is true for the built-in resource_customizations scripts;
	// scripts from argocd-cm run without the standard libraries unless
	// resource.customizations.useOpenLibs.<group_kind> is set.
	openLibs bool
	// int64s gives integers as int64, as the application controller's
	// informer cache does; false gives float64, as Argo CD's test harness
	// (sigs.k8s.io/yaml) does.
	int64s bool
}

var modes = []luaMode{
	{name: "argocd-cm", openLibs: false, int64s: true},
	{name: "argocd-cm-float", openLibs: false, int64s: false},
	{name: "builtin", openLibs: true, int64s: false},
}

// runHealth runs script the way Argo CD's util/lua VM.ExecuteHealthLua does.
func runHealth(obj map[string]any, script string, mode luaMode) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !mode.openLibs})
	defer l.Close()
	// Argo CD opens these even for argocd-cm scripts (plus a "safe" os
	// library, which gatestream's scripts do not use).
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.fn), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return healthStatus{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decodeValue(l, obj))
	if err := l.DoString(script); err != nil {
		return healthStatus{}, err
	}
	ret := l.Get(-1)
	tbl, ok := ret.(*lua.LTable)
	if !ok {
		return healthStatus{}, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	// Argo CD encodes the table to JSON and unmarshals a HealthStatus; be
	// stricter: only string status and message are allowed.
	out := map[string]string{}
	var bad error
	tbl.ForEach(func(k, v lua.LValue) {
		ks, ok1 := k.(lua.LString)
		vs, ok2 := v.(lua.LString)
		if !ok1 || !ok2 || (ks != "status" && ks != "message") {
			bad = fmt.Errorf("unexpected entry %s=%s (%s) in the returned table", k, v, v.Type())
			return
		}
		out[string(ks)] = string(vs)
	})
	if bad != nil {
		return healthStatus{}, bad
	}
	hs := healthStatus{Status: out["status"], Message: out["message"]}
	if !validStatus[hs.Status] {
		return healthStatus{}, fmt.Errorf("Lua returned an invalid health status %q", hs.Status)
	}
	return hs, nil
}

// decodeValue converts a decoded object to Lua values like Argo CD's
// util/lua decodeValue.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case json.Number:
		return lua.LString(v)
	case string:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// toInt64s turns integral float64s into int64, as an informer's unstructured object has them.
func toInt64s(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) {
			return int64(x)
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = toInt64s(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k := range x {
			out[k] = toInt64s(x[k])
		}
		return out
	}
	return v
}

type healthCase struct {
	kind     string
	input    string
	expected healthStatus
}

// collectCases reads every <kind>/health_test.yaml under config/argocd.
func collectCases(t *testing.T) (map[string]string, []healthCase) {
	t.Helper()
	configRoot := configDir(t)
	scripts, err := HealthScripts(configRoot)
	if err != nil {
		t.Fatal(err)
	}
	var cases []healthCase
	for kind := range scripts {
		dir := filepath.Join(configRoot, Group, kind)
		b, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			t.Fatalf("%s has a health.lua but no health_test.yaml: %v", kind, err)
		}
		var ht healthTests
		if err := yaml.UnmarshalStrict(b, &ht); err != nil {
			t.Fatalf("%s/health_test.yaml: %v", kind, err)
		}
		if len(ht.Tests) < minCases[kind] {
			t.Errorf("%s/health_test.yaml lists %d cases, want at least %d", kind, len(ht.Tests), minCases[kind])
		}
		used := map[string]bool{}
		for _, tc := range ht.Tests {
			if used[tc.InputPath] {
				t.Errorf("%s/health_test.yaml: %s listed twice", kind, tc.InputPath)
			}
			used[tc.InputPath] = true
			cases = append(cases, healthCase{kind: kind, input: filepath.Join(dir, tc.InputPath), expected: tc.HealthStatus})
		}
		// Every input file is a case.
		files, _ := filepath.Glob(filepath.Join(dir, "testdata", "*.yaml"))
		for _, f := range files {
			rel, _ := filepath.Rel(dir, f)
			if !used[filepath.ToSlash(rel)] {
				t.Errorf("%s: %s is not listed in health_test.yaml", kind, rel)
			}
		}
	}
	for kind := range minCases {
		if _, ok := scripts[kind]; !ok {
			t.Errorf("no health.lua for %s", kind)
		}
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].input < cases[j].input })
	return scripts, cases
}

func TestHealthChecks(t *testing.T) {
	scripts, cases := collectCases(t)
	for _, tc := range cases {
		name := tc.kind + "/" + strings.TrimSuffix(filepath.Base(tc.input), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(tc.input)
			if err != nil {
				t.Fatal(err)
			}
			// The input is a valid object of the kind (no misspelt fields).
			obj := typed(tc.kind)
			if err := yaml.UnmarshalStrict(b, obj); err != nil {
				t.Fatalf("not a valid %s: %v", tc.kind, err)
			}
			var u map[string]any
			if err := yaml.Unmarshal(b, &u); err != nil {
				t.Fatal(err)
			}
			if u["apiVersion"] != v1alpha1.GroupVersion.String() || u["kind"] != tc.kind {
				t.Fatalf("apiVersion/kind = %v/%v, want %s/%s", u["apiVersion"], u["kind"], v1alpha1.GroupVersion, tc.kind)
			}
			if tc.expected.Message == "" {
				t.Errorf("health_test.yaml gives no expected message")
			}
			for _, mode := range modes {
				in := u
				if mode.int64s {
					in = toInt64s(u).(map[string]any)
				}
				got, err := runHealth(in, scripts[tc.kind], mode)
				if err != nil {
					t.Fatalf("%s: %v", mode.name, err)
				}
				if got != tc.expected {
					t.Errorf("%s:\n got  %+v\n want %+v", mode.name, got, tc.expected)
				}
			}
		})
	}
}

// A script that errors or returns garbage must be caught by the harness.
func TestHarnessRejectsBadScripts(t *testing.T) {
	for name, script := range map[string]string{
		"not a table":     `return "Healthy"`,
		"invalid status":  `return {status = "Fine"}`,
		"runtime error":   `return obj.nope.nope`,
		"string library":  `return {status = "Healthy", message = string.upper("x")}`,
		"non-string item": `return {status = "Healthy", message = 1}`,
		"endless loop":    `while true do end`,
	} {
		if _, err := runHealth(map[string]any{}, script, modes[0]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
