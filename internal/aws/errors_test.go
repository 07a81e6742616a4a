package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// sdkErr builds the error chain the SDK returns: OperationError > ResponseError > API error.
func sdkErr(status int, api error) error {
	return &smithy.OperationError{ServiceID: "AppStream", OperationName: "Op", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      api,
	}}
}

func generic(code string) error {
	return sdkErr(http.StatusBadRequest, &smithy.GenericAPIError{Code: code, Message: "m"})
}

func TestClassification(t *testing.T) {
	type want struct{ notFound, exists, throttled, terminal, retryable bool }
	cases := map[string]struct {
		err  error
		want want
	}{
		"nil":                         {nil, want{}},
		"ErrNotFound":                 {fmt.Errorf("fleet x: %w", ErrNotFound), want{notFound: true}},
		"typed ResourceNotFound":      {sdkErr(400, &astypes.ResourceNotFoundException{Message: awssdk.String("gone")}), want{notFound: true}},
		"generic ResourceNotFound":    {generic("ResourceNotFoundException"), want{notFound: true}},
		"InvalidRouteTableID":         {generic("InvalidRouteTableID.NotFound"), want{notFound: true}},
		"InvalidVpcPeeringConnID":     {generic("InvalidVpcPeeringConnectionID.NotFound"), want{notFound: true}},
		"InvalidRoute":                {generic("InvalidRoute.NotFound"), want{notFound: true}},
		"InvalidSubnetID":             {generic("InvalidSubnetID.NotFound"), want{notFound: true}},
		"InvalidGroup":                {generic("InvalidGroup.NotFound"), want{notFound: true}},
		"InvalidVpcID":                {generic("InvalidVpcID.NotFound"), want{notFound: true}},
		"InvalidInstanceID":           {generic("InvalidInstanceID.NotFound"), want{notFound: true}},
		"InvalidNetworkInterfaceID":   {generic("InvalidNetworkInterfaceID.NotFound"), want{notFound: true}},
		"InvalidPermission.NotFound":  {generic("InvalidPermission.NotFound"), want{notFound: true}},
		"IdempotentParameterMismatch": {generic("IdempotentParameterMismatch"), want{terminal: true}},
		"InvalidAMIID.NotFound":       {generic("InvalidAMIID.NotFound"), want{terminal: true}},
		"InvalidAMIID.Malformed":      {generic("InvalidAMIID.Malformed"), want{terminal: true}},
		"InvalidAMIID.Unavailable":    {generic("InvalidAMIID.Unavailable"), want{terminal: true}},
		"InvalidUserData.Malformed":   {generic("InvalidUserData.Malformed"), want{terminal: true}},
		"InvalidInstanceID.Malformed": {generic("InvalidInstanceID.Malformed"), want{terminal: true}},
		"subnet full":                 {generic("InsufficientFreeAddressesInSubnet"), want{terminal: true}},
		"IncorrectInstanceState":      {generic("IncorrectInstanceState"), want{retryable: true}},
		"InsufficientInstanceCap":     {generic("InsufficientInstanceCapacity"), want{retryable: true}},
		"typed AlreadyExists":         {sdkErr(400, &astypes.ResourceAlreadyExistsException{}), want{exists: true}},
		"RouteAlreadyExists":          {generic("RouteAlreadyExists"), want{exists: true}},
		"ThrottlingException":         {generic("ThrottlingException"), want{throttled: true, retryable: true}},
		"RequestLimitExceeded (EC2)":  {sdkErr(503, &smithy.GenericAPIError{Code: "RequestLimitExceeded"}), want{throttled: true, retryable: true}},
		"RequestLimitExceededExc":     {sdkErr(400, &astypes.RequestLimitExceededException{}), want{throttled: true, retryable: true}},
		"429 without code":            {sdkErr(429, errors.New("too many")), want{throttled: true, retryable: true}},
		"rate limiter":                {fmt.Errorf("%w: %w", ErrRateLimited, context.DeadlineExceeded), want{throttled: true, retryable: true}},
		"LimitExceeded is a quota":    {sdkErr(400, &astypes.LimitExceededException{}), want{terminal: true}},
		"RouteLimitExceeded":          {generic("RouteLimitExceeded"), want{terminal: true}},
		"InvalidParameterCombo":       {sdkErr(400, &astypes.InvalidParameterCombinationException{}), want{terminal: true}},
		"InvalidAccountStatus":        {sdkErr(400, &astypes.InvalidAccountStatusException{}), want{terminal: true}},
		"InvalidRole":                 {sdkErr(400, &astypes.InvalidRoleException{}), want{terminal: true}},
		"IncompatibleImage":           {sdkErr(400, &astypes.IncompatibleImageException{}), want{terminal: true}},
		"OperationNotPermitted":       {sdkErr(400, &astypes.OperationNotPermittedException{}), want{terminal: true}},
		"ValidationException":         {generic("ValidationException"), want{terminal: true}},
		"EC2 InvalidParameterValue":   {generic("InvalidParameterValue"), want{terminal: true}},
		"UnauthorizedOperation":       {generic("UnauthorizedOperation"), want{terminal: true}},
		"client-side validation":      {&smithy.OperationError{Err: smithy.InvalidParamsError{Context: "CreateFleetInput"}}, want{terminal: true}},
		"ConcurrentModification":      {sdkErr(400, &astypes.ConcurrentModificationException{}), want{retryable: true}},
		"ResourceInUse":               {sdkErr(400, &astypes.ResourceInUseException{}), want{retryable: true}},
		"ResourceNotAvailable":        {sdkErr(400, &astypes.ResourceNotAvailableException{}), want{retryable: true}},
		"500 InternalFailure":         {sdkErr(500, &smithy.GenericAPIError{Code: "InternalFailure"}), want{retryable: true}},
		"503 without code":            {sdkErr(503, errors.New("unavailable")), want{retryable: true}},
		"502 unknown code":            {sdkErr(502, &smithy.GenericAPIError{Code: "Weird"}), want{retryable: true}},
		"connection refused": {&url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}},
			want{retryable: true}},
		"request send error": {&smithyhttp.RequestSendError{Err: io.ErrUnexpectedEOF}, want{retryable: true}},
		"deadline":           {fmt.Errorf("op: %w", context.DeadlineExceeded), want{retryable: true}},
		"canceled":           {fmt.Errorf("op: %w", context.Canceled), want{}},
		"plain error":        {errors.New("boom"), want{}},
		"400 unknown code":   {generic("SomethingNew"), want{}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := want{IsNotFound(c.err), IsAlreadyExists(c.err), IsThrottled(c.err), IsTerminal(c.err), IsRetryable(c.err)}
			if got != c.want {
				t.Fatalf("%v: got %+v, want %+v", c.err, got, c.want)
			}
		})
	}
}

func TestCode(t *testing.T) {
	if got := Code(sdkErr(400, &astypes.ResourceInUseException{})); got != "ResourceInUseException" {
		t.Fatalf("Code = %q", got)
	}
	if got := Code(generic("InvalidRoute.NotFound")); got != "InvalidRoute.NotFound" {
		t.Fatalf("Code = %q", got)
	}
	if got := Code(&notFoundError{err: generic("InvalidGroup.NotFound")}); got != "InvalidGroup.NotFound" {
		t.Fatalf("Code through notFoundError = %q", got)
	}
	for _, err := range []error{nil, errors.New("x"), ErrNotFound} {
		if got := Code(err); got != "" {
			t.Fatalf("Code(%v) = %q, want empty", err, got)
		}
	}
}

func TestAsNotFound(t *testing.T) {
	err := asNotFound(generic("ResourceNotFoundException"))
	if !errors.Is(err, ErrNotFound) || Code(err) != "ResourceNotFoundException" {
		t.Fatalf("asNotFound: %v", err)
	}
	other := generic("ResourceInUseException")
	if asNotFound(other) != other || asNotFound(nil) != nil {
		t.Fatal("asNotFound must leave other errors alone")
	}
}

func TestResult(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                        "success",
		ErrNotFound:                                "not_found",
		generic("RouteAlreadyExists"):              "already_exists",
		generic("ThrottlingException"):             "throttled",
		generic("ValidationException"):             "terminal",
		generic("ResourceInUseException"):          "retryable",
		errors.New("boom"):                         "error",
		generic("InvalidParameterValue"):           "terminal",
		generic("InvalidSubnetID.NotFound"):        "not_found",
		generic("LimitExceededException"):          "terminal",
		generic("RequestLimitExceeded"):            "throttled",
		generic("ConcurrentModificationException"): "retryable",
	} {
		if got := Result(err); got != want {
			t.Errorf("Result(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestRedactorScrubsTypedMessages(t *testing.T) {
	r := newRedactor(&StaticCredentials{AccessKeyID: "AKIDEXAMPLEKEY", SecretAccessKey: "shh-secret"})
	typed := &astypes.InvalidRoleException{Message: awssdk.String("role check with AKIDEXAMPLEKEY and shh-secret")}
	err := r.scrub(sdkErr(400, typed))
	if s := err.Error(); containsAny(s, "AKIDEXAMPLEKEY", "shh-secret") != "" {
		t.Fatalf("leak: %s", s)
	}
	if containsAny(awssdk.ToString(typed.Message), "AKIDEXAMPLEKEY", "shh-secret") != "" {
		t.Fatalf("typed message not scrubbed: %s", awssdk.ToString(typed.Message))
	}
	if !IsTerminal(err) || Code(err) != "InvalidRoleException" {
		t.Fatalf("classification lost after scrub: %v", err)
	}
	plain := fmt.Errorf("sent Credential=AKIAABCDEFGHIJKLMNOP/20260901/ap-northeast-1/appstream/aws4_request, Signature=abcdef")
	if s := r.scrub(plain).Error(); containsAny(s, "AKIAABCDEFGHIJKLMNOP", "abcdef") != "" {
		t.Fatalf("leak: %s", s)
	}
	clean := errors.New("nothing to hide")
	if r.scrub(clean) != clean {
		t.Fatal("clean errors must be returned as they are")
	}
}
