// Package poll computes when an in-sync object is observed again to correct
// drift: the manager's --poll-interval, or the object's
// access.gatestream.io/poll-interval annotation, with jitter so that objects
// created together do not hit the clouds together.
package poll

import (
	"fmt"
	"math/rand/v2"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// MinInterval is the shortest interval an annotation may ask for.
const MinInterval = 10 * time.Second

// Interval returns the base poll interval for an object with these annotations.
func Interval(annotations map[string]string, def time.Duration) time.Duration {
	if v, ok := annotations[accessv1alpha1.AnnotationPollInterval]; ok {
		if d, err := time.ParseDuration(v); err == nil && d >= MinInterval {
			return d
		}
	}
	return def
}

// Problem says why the object's poll-interval annotation is ignored ("" when
// it is absent or used), so that a value such as 1ms is not dropped silently.
func Problem(annotations map[string]string, def time.Duration) string {
	v, ok := annotations[accessv1alpha1.AnnotationPollInterval]
	if !ok {
		return ""
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return fmt.Sprintf("annotation %s=%q is not a duration (such as 2m); the manager's poll interval %s applies", accessv1alpha1.AnnotationPollInterval, v, def)
	case d < MinInterval:
		return fmt.Sprintf("annotation %s=%q is shorter than %s, which would load the clouds; the manager's poll interval %s applies", accessv1alpha1.AnnotationPollInterval, v, MinInterval, def)
	}
	return ""
}

// Jittered returns d plus up to 10% random jitter.
func Jittered(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// Next is Jittered(Interval(annotations, def)).
func Next(annotations map[string]string, def time.Duration) time.Duration {
	return Jittered(Interval(annotations, def))
}
