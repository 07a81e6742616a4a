package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestResult(t *testing.T) {
	cases := []struct {
		status int
		err    error
		want   string
	}{
		{200, nil, "ok"},
		{204, nil, "ok"},
		{429, errors.New("throttled"), "throttled"},
		{503, errors.New("unavailable"), "server_error"},
		{404, errors.New("not found"), "client_error"},
		{0, errors.New("connection reset"), "network_error"},
		{0, context.DeadlineExceeded, "canceled"},
	}
	for _, tc := range cases {
		if got := Result(tc.status, tc.err); got != tc.want {
			t.Errorf("Result(%d, %v) = %s; want %s", tc.status, tc.err, got, tc.want)
		}
	}
}

func TestObserveCounts(t *testing.T) {
	before := testutil.ToFloat64(OutboundCalls.WithLabelValues("test", "op", "ok"))
	Observe("test", "op", "ok", 10*time.Millisecond)
	Observe("test", "op", "ok", 20*time.Millisecond)
	if got := testutil.ToFloat64(OutboundCalls.WithLabelValues("test", "op", "ok")) - before; got != 2 {
		t.Fatalf("counted %v calls; want 2", got)
	}
	if n := testutil.CollectAndCount(OutboundDuration, "gatestream_outbound_call_duration_seconds"); n == 0 {
		t.Fatal("no latency observed")
	}
}
