package poll

import (
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

func TestInterval(t *testing.T) {
	def := 5 * time.Minute
	cases := []struct {
		ann  map[string]string
		want time.Duration
	}{
		{nil, def},
		{map[string]string{accessv1alpha1.AnnotationPollInterval: "2m"}, 2 * time.Minute},
		{map[string]string{accessv1alpha1.AnnotationPollInterval: "1s"}, def},    // below MinInterval
		{map[string]string{accessv1alpha1.AnnotationPollInterval: "often"}, def}, // not a duration
		{map[string]string{"other": "2m"}, def},
	}
	for _, tc := range cases {
		if got := Interval(tc.ann, def); got != tc.want {
			t.Errorf("Interval(%v) = %s; want %s", tc.ann, got, tc.want)
		}
	}
}

func TestJitterStaysWithinTenPercent(t *testing.T) {
	d := time.Minute
	spread := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		j := Jittered(d)
		if j < d || j > d+d/10 {
			t.Fatalf("Jittered(%s) = %s, outside [d, d+10%%]", d, j)
		}
		spread[j] = true
	}
	if len(spread) < 2 {
		t.Fatal("no jitter: every interval was the same")
	}
	if Jittered(0) != 0 {
		t.Fatal("Jittered(0) != 0")
	}
}

func TestProblemNamesAnIgnoredAnnotation(t *testing.T) {
	def := 5 * time.Minute
	for v, want := range map[string]string{"1ms": "shorter than 10s", "often": "not a duration", "2m": ""} {
		got := Problem(map[string]string{accessv1alpha1.AnnotationPollInterval: v}, def)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("%q: %q; want %q", v, got, want)
		}
	}
	if Problem(nil, def) != "" {
		t.Error("no annotation is no problem")
	}
}
