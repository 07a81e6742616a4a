// Package plugin is the logic of kubectl-gatestream, the kubectl plugin that
// turns "give me a browser session to device X" into a StreamingSession and
// prints its URL. cmd/kubectl-gatestream only wires flags to it.
package plugin

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// App runs the plugin's commands against one namespace.
type App struct {
	// Client talks to the API server (as the person running the plugin).
	Client client.Client
	// Namespace the commands work in (the kubeconfig's current namespace unless -n).
	Namespace string
	// Out receives results (URLs, tables); Err receives progress and warnings.
	Out, Err io.Writer
	// Now is the clock (time.Now unless a test sets it).
	Now func() time.Time
	// Open opens a URL in the browser (xdg-open or open unless a test sets it).
	Open func(url string) error
	// WhoAmI returns the current user's name (a SelfSubjectReview unless a test sets it).
	WhoAmI func(ctx context.Context) (string, error)
	// PollInterval is how often connect re-reads the session while waiting (1s if zero).
	PollInterval time.Duration
	// ProgressEvery repeats an unchanged progress line this often (10s if zero).
	ProgressEvery time.Duration
}

// Scheme knows the built-in kinds and gatestream's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(accessv1alpha1.AddToScheme(s))
	return s
}

func (a *App) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *App) pollInterval() time.Duration {
	if a.PollInterval > 0 {
		return a.PollInterval
	}
	return time.Second
}

func (a *App) progressEvery() time.Duration {
	if a.ProgressEvery > 0 {
		return a.ProgressEvery
	}
	return 10 * time.Second
}

func (a *App) whoAmI(ctx context.Context) (string, error) {
	if a.WhoAmI != nil {
		return a.WhoAmI(ctx)
	}
	return SelfSubjectReviewUser(ctx, a.Client)
}

// SelfSubjectReviewUser asks the API server who the client is
// (authentication.k8s.io/v1 SelfSubjectReview, what `kubectl auth whoami` does).
func SelfSubjectReviewUser(ctx context.Context, c client.Client) (string, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", err
	}
	name := review.Status.UserInfo.Username
	if name == "" {
		return "", fmt.Errorf("the API server did not say who you are (empty SelfSubjectReview)")
	}
	return name, nil
}

// userIDPattern is StreamingSession spec.userId's validation (2–32 characters).
var userIDPattern = regexp.MustCompile(`^[\w+=,.@-]{2,32}$`)

// readyCondition returns the Ready condition, or nil.
func readyCondition(conds []metav1.Condition) *metav1.Condition {
	return meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady)
}

// describeCondition is "Reason: message" (or whichever of them is set).
func describeCondition(c *metav1.Condition) string {
	switch {
	case c == nil:
		return ""
	case c.Reason != "" && c.Message != "":
		return c.Reason + ": " + c.Message
	case c.Reason != "":
		return c.Reason
	default:
		return c.Message
	}
}

// relative renders t against now as "in 4m59s" or "3m ago" ("-" when unset).
func relative(now time.Time, t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	switch {
	case d > 0:
		return "in " + humanDuration(d)
	case d < 0:
		return humanDuration(-d) + " ago"
	default:
		return "now"
	}
}

// humanDuration is a short duration like kubectl's AGE column: 45s, 4m59s, 2h5m, 3d4h.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 10*time.Minute:
		m, s := int(d/time.Minute), int((d%time.Minute)/time.Second)
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, s)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int((d%time.Hour)/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int((d%(24*time.Hour))/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}
