// Package poll computes when an in-sync object is observed again to correct
// drift: the manager's --poll-interval, or the object's
// access.gatestream.io/poll-interval annotation, with jitter so that objects
// created together do not hit the clouds together.
package poll

import (
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
