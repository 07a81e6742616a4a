package aws

import (
	"context"
	"errors"
	"net/http"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Error classification. Match on API error codes (smithy.APIError), not on
// typed SDK errors: a code not modeled for an operation arrives as a
// *smithy.GenericAPIError (reference §1.5), and EC2 has no modeled errors.

// ErrNotFound is returned (wrapped) by the Describe* adapters when the
// resource does not exist, whether the API said so with an error
// (ResourceNotFoundException, Invalid…ID.NotFound) or with an empty result.
var ErrNotFound = errors.New("not found")

// notFoundError marks an API not-found error as ErrNotFound while keeping the API error reachable.
type notFoundError struct{ err error }

func (e *notFoundError) Error() string        { return e.err.Error() }
func (e *notFoundError) Unwrap() error        { return e.err }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// asNotFound wraps err so that errors.Is(err, ErrNotFound) holds when it is a not-found API error.
func asNotFound(err error) error {
	if err != nil && IsNotFound(err) && !errors.Is(err, ErrNotFound) {
		return &notFoundError{err: err}
	}
	return err
}

var notFoundCodes = set(
	"ResourceNotFoundException",              // AppStream
	"EntitlementNotFoundException",           // AppStream
	"InvalidVpcID.NotFound",                  // EC2
	"InvalidSubnetID.NotFound",               // EC2
	"InvalidRouteTableID.NotFound",           // EC2
	"InvalidRoute.NotFound",                  // EC2 DeleteRoute/ReplaceRoute
	"InvalidVpcPeeringConnectionID.NotFound", // EC2
	"InvalidGroup.NotFound",                  // EC2 security groups
	"InvalidInstanceID.NotFound",             // EC2 (also briefly right after RunInstances: eventual consistency)
	"InvalidNetworkInterfaceID.NotFound",     // EC2
	"InvalidPermission.NotFound",             // EC2 RevokeSecurityGroup* of a rule that is not there
)

var alreadyExistsCodes = set(
	"ResourceAlreadyExistsException",    // AppStream CreateFleet/CreateStack
	"EntitlementAlreadyExistsException", // AppStream
	"RouteAlreadyExists",                // EC2 CreateRoute
	"InvalidPermission.Duplicate",       // EC2 security group rules
	"VpcPeeringConnectionAlreadyExists", // EC2
)

// Throttling codes: the SDK's DefaultThrottleErrorCodes without
// LimitExceededException (an account quota for AppStream, see IsTerminal),
// plus AppStream's RequestLimitExceededException.
var throttleCodes = func() map[string]struct{} {
	m := set("RequestLimitExceededException")
	for c := range retry.DefaultThrottleErrorCodes {
		if c != "LimitExceededException" {
			m[c] = struct{}{}
		}
	}
	return m
}()

var retryableCodes = set(
	"ConcurrentModificationException", // AppStream: "Wait a few minutes and try again."
	"ResourceInUseException",          // AppStream: the fleet must stop / be disassociated first; the state changes by itself or by an earlier step
	"ResourceNotAvailableException",   // AppStream: exists but not available yet
	"RequestTimeout", "RequestTimeoutException",
	"InternalError", "InternalFailure", "InternalServerError", "InternalServiceError",
	"ServiceUnavailable", "ServiceUnavailableException", "Unavailable",
	"IncorrectState", "DependencyViolation", // EC2: transient state of a related resource
	"IncorrectInstanceState",       // EC2: the instance is between states (e.g. stop while pending)
	"InsufficientInstanceCapacity", // EC2: "try again later" (or another AZ / instance type)
	"InsufficientCapacity",         // EC2
)

var terminalCodes = set(
	// AppStream: need a spec or account change.
	"InvalidParameterCombinationException",
	"InvalidAccountStatusException",
	"LimitExceededException", // AppStream quota (the SDK's default retryer would treat it as throttling)
	"InvalidRoleException",
	"IncompatibleImageException",
	"OperationNotPermittedException",
	"ValidationException", "ValidationError", "SerializationException",
	// EC2 request validation.
	"InvalidParameterValue", "InvalidParameter", "InvalidParameterCombination", "MissingParameter",
	"UnknownParameter", "InvalidAction", "InvalidRequest", "OperationNotPermitted",
	"InvalidSubnetID.Malformed", "InvalidRouteTableId.Malformed", "InvalidGroupId.Malformed", "InvalidVpcID.Malformed",
	"InvalidVpcPeeringConnectionId.Malformed", "InvalidVpcPeeringConnectionID.Malformed",
	"InvalidInstanceID.Malformed", "InvalidNetworkInterfaceID.Malformed",
	// EC2 RunInstances: invalid configuration (InvalidAMIID.* are matched by prefix in IsTerminal).
	"IdempotentParameterMismatch",       // the same ClientToken with other parameters: the token must change
	"InvalidUserData.Malformed",         // user data not base64 or too long
	"InsufficientFreeAddressesInSubnet", // the subnet is full: it must be enlarged or freed
	"InvalidIPAddress.InUse",
	// Credentials and permissions (AppStream and EC2 spellings).
	"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure",
	"UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch",
	"InvalidSignatureException", "IncompleteSignatureException", "MissingAuthenticationTokenException",
	"OptInRequired", "Blocked", "PendingVerification",
)

func set(codes ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(codes))
	for _, c := range codes {
		m[c] = struct{}{}
	}
	return m
}

func has(m map[string]struct{}, code string) bool {
	_, ok := m[code]
	return code != "" && ok
}

// Code returns the API error code in err ("" when err carries none).
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of the response that produced err (0 if none).
func httpStatus(err error) int {
	var v interface{ HTTPStatusCode() int }
	if errors.As(err, &v) {
		return v.HTTPStatusCode()
	}
	return 0
}

// isAMICode matches EC2's InvalidAMIID.NotFound, .Malformed, .Unavailable, …:
// the image a launch names is wrong, a configuration error (not the
// not-found of a resource being deleted).
func isAMICode(code string) bool { return strings.HasPrefix(code, "InvalidAMIID.") }

// IsNotFound reports whether err says the resource does not exist
// (ErrNotFound or an API not-found code). Callers treat it as success on delete.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, ErrNotFound) || has(notFoundCodes, Code(err))
}

// IsAlreadyExists reports whether a create failed because the resource exists
// (adopt it after checking ownership).
func IsAlreadyExists(err error) bool {
	return err != nil && has(alreadyExistsCodes, Code(err))
}

// IsThrottled reports whether err is rate limiting: by AWS, or a client-side wait
// (the adaptive rate or Config.Limiter) cut short before the request was sent.
func IsThrottled(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrRateLimited) {
		return true
	}
	code := Code(err)
	if has(throttleCodes, code) {
		return true
	}
	return code == "" && httpStatus(err) == http.StatusTooManyRequests
}

// IsTerminal reports whether err needs a change of spec, account, quota or
// credentials: retrying the same call soon will fail the same way. Report it
// in a condition and do not hot-loop.
func IsTerminal(err error) bool {
	if err == nil || IsThrottled(err) {
		return false
	}
	var ipe smithy.InvalidParamsError // client-side validation (missing required member)
	if errors.As(err, &ipe) {
		return true
	}
	code := Code(err)
	if has(terminalCodes, code) || isAMICode(code) {
		return true
	}
	// EC2 quotas: RouteLimitExceeded, VpcPeeringConnectionLimitExceeded, … (the throttles were excluded above).
	return strings.HasSuffix(code, "LimitExceeded")
}

// IsRetryable reports whether err is transient: throttling, 5xx, timeouts,
// connection errors, concurrent modification, a resource busy or not yet
// available. Retry with backoff.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if IsThrottled(err) {
		return true
	}
	code := Code(err)
	if has(retryableCodes, code) {
		return true
	}
	if has(terminalCodes, code) || isAMICode(code) || has(notFoundCodes, code) || has(alreadyExistsCodes, code) {
		return false
	}
	if s := httpStatus(err); s >= 500 && s <= 599 {
		return true
	}
	var re interface{ RetryableError() bool }
	if errors.As(err, &re) && re.RetryableError() {
		return true
	}
	if (retry.RetryableConnectionError{}).IsErrorRetryable(err) == awssdk.TrueTernary {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// Result names the outcome of a call for metrics labels: "success",
// "not_found", "already_exists", "throttled", "terminal", "retryable" or "error".
func Result(err error) string {
	switch {
	case err == nil:
		return "success"
	case IsNotFound(err):
		return "not_found"
	case IsAlreadyExists(err):
		return "already_exists"
	case IsThrottled(err):
		return "throttled"
	case IsTerminal(err):
		return "terminal"
	case IsRetryable(err):
		return "retryable"
	default:
		return "error"
	}
}

// IsRegionError reports whether AWS refused the request because of its
// region: the account has not opted in to it, or the credentials' scope names
// a region the service does not accept there. A person fixes spec.aws.region.
func IsRegionError(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "OptInRequired", "InvalidRegion", "InvalidRegionException":
		return true
	}
	msg := strings.ToLower(ae.ErrorMessage())
	return strings.Contains(msg, "scoped to a valid region") || strings.Contains(msg, "credential scope") ||
		(strings.Contains(msg, "region") && strings.Contains(msg, "not enabled"))
}
