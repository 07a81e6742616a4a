package unit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	ctrl "sigs.k8s.io/controller-runtime"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/soracom"
)

func TestClassifyGivesOneVerdictPerCloudError(t *testing.T) {
	awsErr := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	cases := map[string]struct {
		err      error
		reason   string
		terminal bool
		after    time.Duration
	}{
		"own terminal":       {Terminal("NameConflict", errors.New("x")), "NameConflict", true, 0},
		"own retry after":    {RetryAfter("FleetStarting", 7*time.Second, errors.New("x")), "FleetStarting", false, 7 * time.Second},
		"missing Secret":     {fmt.Errorf("wrapped: %w", &clients.CredentialsError{Secret: "s", Reason: "missing"}), accessv1alpha1.ReasonCredentialsUnavailable, true, 0},
		"soracom 401":        {&soracom.APIError{HTTPStatus: 401}, accessv1alpha1.ReasonCredentialsUnavailable, true, 0},
		"soracom 429":        {&soracom.APIError{HTTPStatus: 429, RetryAfter: 3 * time.Second}, accessv1alpha1.ReasonThrottled, false, 3 * time.Second},
		"soracom 400":        {&soracom.APIError{HTTPStatus: 400}, accessv1alpha1.ReasonInvalidConfiguration, true, 0},
		"soracom 503":        {&soracom.APIError{HTTPStatus: 503}, accessv1alpha1.ReasonAPIError, false, 0},
		"soracom lost reply": {&soracom.TransportError{Err: errors.New("reset")}, accessv1alpha1.ReasonAPIError, false, 0},
		"aws throttling":     {awsErr("ThrottlingException"), accessv1alpha1.ReasonThrottled, false, aws.ThrottleRequeue},
		"own budget":         {aws.ErrRateLimited, accessv1alpha1.ReasonThrottled, false, aws.ThrottleRequeue},
		"aws invalid":        {awsErr("InvalidParameterCombinationException"), accessv1alpha1.ReasonInvalidConfiguration, true, 0},
		"aws quota":          {awsErr("RouteLimitExceeded"), accessv1alpha1.ReasonInvalidConfiguration, true, 0},
		"unknown":            {errors.New("boom"), accessv1alpha1.ReasonAPIError, false, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := Classify(tc.err)
			if v.Reason != tc.reason || v.Terminal != tc.terminal || v.After != tc.after || v.Message == "" {
				t.Fatalf("Classify = %+v; want reason %s terminal %v after %v", v, tc.reason, tc.terminal, tc.after)
			}
		})
	}
}

func TestRequeueFollowsTheVerdict(t *testing.T) {
	poll := 5 * time.Minute
	terminal := Terminal("X", errors.New("x"))
	throttled := &soracom.APIError{HTTPStatus: 429, RetryAfter: 4 * time.Second}
	cases := map[string]struct {
		out     Outcome
		want    ctrl.Result
		wantErr bool
	}{
		"ready polls":                  {Outcome{Ready: true}, ctrl.Result{RequeueAfter: poll}, false},
		"not ready waits":              {Outcome{Wait: 10 * time.Second}, ctrl.Result{RequeueAfter: 10 * time.Second}, false},
		"terminal polls":               {Outcome{Err: terminal}, ctrl.Result{RequeueAfter: poll}, false},
		"terminal, other side moving":  {Outcome{Err: terminal, Wait: 10 * time.Second}, ctrl.Result{RequeueAfter: 10 * time.Second}, false},
		"throttled waits as told":      {Outcome{Err: throttled}, ctrl.Result{RequeueAfter: 4 * time.Second}, false},
		"transient backs off":          {Outcome{Err: errors.New("reset")}, ctrl.Result{}, true},
		"terminal beside transient":    {Join(Outcome{Err: terminal}, Outcome{Err: errors.New("reset")}), ctrl.Result{}, true},
		"terminal beside a throttle":   {Join(Outcome{Err: terminal}, Outcome{Err: throttled}), ctrl.Result{RequeueAfter: 4 * time.Second}, false},
		"two terminal errors are both": {Join(Outcome{Err: terminal}, Outcome{Err: &soracom.APIError{HTTPStatus: 400}}), ctrl.Result{RequeueAfter: poll}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Requeue(tc.out, poll)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("Requeue = %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestNothingCreated(t *testing.T) {
	for err, want := range map[error]bool{
		&soracom.APIError{HTTPStatus: 400}:                                    true,
		&soracom.APIError{HTTPStatus: 429}:                                    true,
		&soracom.APIError{HTTPStatus: 500}:                                    false,
		&soracom.TransportError{Err: errors.New("timeout")}:                   false,
		aws.ErrRateLimited:                                                    true,
		&smithy.GenericAPIError{Code: "InvalidParameterCombinationException"}: true,
		&smithy.GenericAPIError{Code: "ThrottlingException"}:                  true,
		errors.New("connection reset"):                                        false,
	} {
		if got := NothingCreated(err); got != want {
			t.Errorf("NothingCreated(%v) = %v; want %v", err, got, want)
		}
	}
}

// A region AWS refuses (opt-in region not enabled, credential scope) names spec.aws.region.
func TestClassifyNamesTheRegionField(t *testing.T) {
	for _, err := range []error{
		&smithy.GenericAPIError{Code: "OptInRequired", Message: "You are not subscribed to this service in this region."},
		&smithy.GenericAPIError{Code: "InvalidSignatureException", Message: "Credential should be scoped to a valid region."},
	} {
		v := Classify(fmt.Errorf("creating fleet: %w", err))
		if v.Reason != accessv1alpha1.ReasonInvalidConfiguration || !v.Terminal || !strings.Contains(v.Message, "spec.aws.region") {
			t.Errorf("%v: %+v; want a terminal InvalidConfiguration naming spec.aws.region", err, v)
		}
	}
}
