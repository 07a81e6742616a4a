package aws

import (
	"errors"
	"reflect"
	"regexp"
	"strings"

	"github.com/aws/smithy-go"
)

// Key material must never reach errors, conditions, events or logs. AWS does
// not echo secret keys, but some error messages quote the SigV4 credential
// scope (which starts with the access key ID); an emulator or a proxy may
// echo more. redactor scrubs the static credentials it knows, anything that
// looks like an AWS access key ID, and SigV4 credential/signature parameters.

var (
	accessKeyIDRe = regexp.MustCompile(`\b(?:AKIA|ASIA|AIDA|AROA|ABIA|ACCA)[A-Z0-9]{12,}\b`)
	sigv4ParamRe  = regexp.MustCompile(`(Credential|Signature|X-Amz-Credential|X-Amz-Signature|X-Amz-Security-Token)=[^,&\s"']+`)
)

type redactor struct{ secrets []string }

func newRedactor(s *StaticCredentials) *redactor {
	r := &redactor{}
	if s != nil {
		for _, v := range []string{s.SecretAccessKey, s.SessionToken, s.AccessKeyID} {
			if len(v) >= 4 { // never replace trivially short strings everywhere
				r.secrets = append(r.secrets, v)
			}
		}
	}
	return r
}

func (r *redactor) redact(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	s = sigv4ParamRe.ReplaceAllString(s, "${1}="+redacted)
	return accessKeyIDRe.ReplaceAllString(s, redacted)
}

// scrub removes key material from err: the message of the API error inside
// it is rewritten in place (so ErrorMessage() is clean too), and the whole
// error is wrapped if its text still changes. errors.Is/As keep working.
func (r *redactor) scrub(err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if msg := ae.ErrorMessage(); msg != "" {
			if clean := r.redact(msg); clean != msg {
				setAPIErrorMessage(ae, clean)
			}
		}
	}
	msg := err.Error()
	if clean := r.redact(msg); clean != msg {
		return &redactedError{err: err, msg: clean}
	}
	return err
}

// setAPIErrorMessage rewrites the message of a generic or modeled API error
// (all SDK error types keep it in a Message field of type string or *string).
func setAPIErrorMessage(ae smithy.APIError, msg string) {
	if g, ok := ae.(*smithy.GenericAPIError); ok {
		g.Message = msg
		return
	}
	v := reflect.ValueOf(ae)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	f := v.Elem().FieldByName("Message")
	if !f.IsValid() || !f.CanSet() {
		return
	}
	switch {
	case f.Kind() == reflect.String:
		f.SetString(msg)
	case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.String:
		f.Set(reflect.ValueOf(&msg))
	}
}

type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
