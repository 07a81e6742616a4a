package clients

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// EndpointError is an endpoint override the manager does not allow.
type EndpointError struct{ msg string }

func (e *EndpointError) Error() string { return e.msg }

// IsEndpointError reports whether err is an EndpointError (reason EndpointNotAllowed, terminal).
func IsEndpointError(err error) bool {
	var ee *EndpointError
	return errors.As(err, &ee)
}

// An endpoint override (spec.soracom.endpoint, spec.aws.endpoints) points
// the manager, and with it the SORACOM auth key or AWS request signatures, at
// another server. Anyone who may edit an environment could otherwise collect
// credentials they may not read, so overrides are refused unless the
// manager's own configuration (--allowed-endpoints) allows them.

// ParseAllowedEndpoints checks the allow-list entries: scheme://host or
// scheme://host:port (no path, query or credentials).
func ParseAllowedEndpoints(entries []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(entries))
	for _, e := range entries {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("--allowed-endpoints entry %q: want scheme://host or scheme://host:port, such as http://127.0.0.1 or https://soracom-proxy.internal:8443", e)
		}
		out = append(out, u)
	}
	return out, nil
}

// endpointAllowed reports whether endpoint matches an allow-list entry: the
// same scheme and host, and the same port when the entry names one.
func endpointAllowed(allowed []*url.URL, endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	for _, a := range allowed {
		if a.Scheme == u.Scheme && strings.EqualFold(a.Hostname(), u.Hostname()) && (a.Port() == "" || a.Port() == u.Port()) {
			return true
		}
	}
	return false
}

// checkEndpoint refuses an override the manager does not allow, before any
// credential is read.
func (f *Factory) checkEndpoint(field, endpoint string) error {
	if endpoint == "" || endpointAllowed(f.allowed, endpoint) {
		return nil
	}
	return &EndpointError{fmt.Sprintf(
		"%s %q is not allowed: the manager sends credentials only to the clouds' own endpoints and to those its --allowed-endpoints flag (chart value allowedEndpoints) lists (%s)",
		field, endpoint, listOrNone(f.allowed))}
}

func listOrNone(us []*url.URL) string {
	if len(us) == 0 {
		return "none"
	}
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = u.String()
	}
	return strings.Join(s, ", ")
}
