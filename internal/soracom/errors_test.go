package soracom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseAPIError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		header   http.Header
		body     string
		code     string
		msg      string
		retryAft time.Duration
	}{
		{"flat", 400, nil, `{"code":"SEM0016","message":"The specified subscriber is offline"}`, "SEM0016", "The specified subscriber is offline", 0},
		{"spec shape", 404, nil, `{"httpStatus":404,"errorMessage":{"code":"VPG0404","message":"No such VPG"}}`, "VPG0404", "No such VPG", 0},
		{"flat with messageArgs", 400, nil, `{"code":"X1","message":"m","messageArgs":["a"]}`, "X1", "m", 0},
		{"messageArgs string (sdk-go)", 404, nil, `{"code":"VPG0001","message":"VPG %s not found","messageArgs":"vpg-1"}`, "VPG0001", "VPG vpg-1 not found", 0},
		{"messageArgs array", 400, nil, `{"code":"X2","message":"%s of %d, 100%% (%s)","messageArgs":["a",2]}`, "X2", "a of 2, 100% (%s)", 0},
		{"messageArgs numbered", 400, nil, `{"code":"X3","message":"{1} before {0}, {x} and {9} kept","messageArgs":["b","a"]}`, "X3", "a before b, {x} and {9} kept", 0},
		{"no messageArgs keeps percent", 400, nil, `{"code":"X4","message":"100%s {0}"}`, "X4", "100%s {0}", 0},
		{"spec shape with messageArgs", 400, nil, `{"errorMessage":{"code":"X5","message":"bad %s","messageArgs":"thing"}}`, "X5", "bad thing", 0},
		{"messageArgs object ignored", 400, nil, `{"code":"X6","message":"bad %s","messageArgs":{"a":1}}`, "X6", "bad %s", 0},
		{"text/plain", 403, http.Header{"Content-Type": {"text/plain"}}, "Forbidden by SAM policy\n", "", "Forbidden by SAM policy", 0},
		{"json without known fields", 500, nil, `{"oops":true}`, "", `{"oops":true}`, 0},
		{"empty", 503, nil, "", "", "Service Unavailable", 0},
		{"throttled", 429, http.Header{"X-Soracom-Ratelimit-Seconds-Before-Refresh": {"12"}}, `{"code":"COM0001","message":"Too many"}`, "COM0001", "Too many", 12 * time.Second},
		{"retry-after", 429, http.Header{"Retry-After": {"3"}}, ``, "", "Too Many Requests", 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := parseAPIError("op", tc.status, tc.header, []byte(tc.body), nil)
			if e.HTTPStatus != tc.status || e.Code != tc.code || e.Message != tc.msg || e.RetryAfter != tc.retryAft || e.Operation != "op" {
				t.Fatalf("got %+v", e)
			}
		})
	}
	long := parseAPIError("op", 400, nil, []byte(strings.Repeat("x", 5000)), nil)
	if len(long.Message) > maxErrorMessage+8 {
		t.Fatalf("message not truncated: %d", len(long.Message))
	}
}

func TestErrorBodiesOverHTTP(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("POST /v1/sims/s1/delete_session", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"httpStatus": 400, "errorMessage": map[string]string{"code": "SEM0016", "message": "The specified subscriber is offline"}})
	})
	f.handle("POST /v1/sims/s2/delete_session", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusBadRequest, "SEM0016", "The specified subscriber is offline")
	})
	f.handle("GET /v1/groups/gone", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("group not found"))
	})
	c, _ := newTestClient(t, f, nil)
	ctx := testCtx(t)
	for _, sim := range []string{"s1", "s2"} {
		err := c.DeleteSimSession(ctx, sim)
		if !IsSubscriberOffline(err) || !IsCode(err, "sem0016") || Retryable(err) {
			t.Fatalf("%s: err = %v", sim, err)
		}
		if want := "soracom deleteSimSession: HTTP 400 SEM0016: The specified subscriber is offline"; err.Error() != want {
			t.Fatalf("Error() = %q, want %q", err.Error(), want)
		}
	}
	_, err := c.GetGroup(ctx, "gone")
	if !IsNotFound(err) || IgnoreNotFound(err) != nil || Retryable(err) {
		t.Fatalf("err = %v", err)
	}
	if ae, _ := AsAPIError(err); ae.Message != "group not found" || ae.Operation != "getGroup" {
		t.Fatalf("APIError = %+v", ae)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&APIError{HTTPStatus: 429}, true},
		{&APIError{HTTPStatus: 500}, true},
		{&APIError{HTTPStatus: 503}, true},
		{&APIError{HTTPStatus: 408}, true},
		{&APIError{HTTPStatus: 400}, false},
		{&APIError{HTTPStatus: 401}, false},
		{&APIError{HTTPStatus: 403}, false},
		{&APIError{HTTPStatus: 404}, false},
		{fmt.Errorf("wrapped: %w", &APIError{HTTPStatus: 502}), true},
		{&TransportError{Operation: "x", Err: errors.New("connection refused")}, true},
		{&TransportError{Operation: "x", Err: context.DeadlineExceeded}, true},
		{&TransportError{Operation: "x", Err: context.Canceled}, false},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{errors.New("decode failure"), false},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if IsNotFound(nil) || IsThrottled(errors.New("x")) || IsCode(nil, "SEM0016") {
		t.Error("helpers true on non-API errors")
	}
}
