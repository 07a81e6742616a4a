package clients_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/clients"
	emu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// awsAccount is one emulated AWS account (its own AppStream endpoint and call
// log) and the spec of an environment in it, with its own credentials Secret.
type awsAccount struct {
	faults *fault.Injector
	spec   accessv1alpha1.AWSSpec
}

func newAWSAccount(t *testing.T, ns, secretName, keyID string) awsAccount {
	t.Helper()
	a := awsAccount{faults: fault.New(1)}
	w := emu.New(emu.Options{Faults: a.faults})
	w.AddImage("TeraTerm-Image", "AVAILABLE")
	srv := httptest.NewServer(w.AppStreamHandler())
	t.Cleanup(srv.Close)
	secret(t, ns, secretName, map[string]string{clients.KeyAWSAccessKeyID: keyID, clients.KeyAWSSecretAccessKey: "s3cr3t-" + keyID})
	a.spec = accessv1alpha1.AWSSpec{Region: w.Region(), Endpoints: &accessv1alpha1.AWSEndpoints{AppStream: srv.URL},
		CredentialsSecretRef: &accessv1alpha1.SecretReference{Name: secretName}}
	return a
}

// TestAWSClientsShareOneAdaptiveRate: the factory gives every environment's
// AWS clients one adaptive rate per service (one outbound budget per cloud),
// with no fixed cap unless AWSCallsPerSecond sets one.
func TestAWSClientsShareOneAdaptiveRate(t *testing.T) {
	ctx := context.Background()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "clients-aws-budget-"}}
	if err := env.Client.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	ns := nsObj.Name
	accA := newAWSAccount(t, ns, "aws-a", "AKIAGATESTREAMAAAAAA")
	accB := newAWSAccount(t, ns, "aws-b", "AKIAGATESTREAMBBBBBB")

	// No fixed cap by default: 50 calls in a row, none waits (the old default
	// of 10/s with a burst of 20 would need 3 s).
	b0, err := clients.New(env.Client, clients.Options{AllowedEndpoints: []string{"http://127.0.0.1"}}).AWS(ctx, ns, accB.spec)
	if err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for range 50 {
		if _, err := b0.AppStream.DescribeImage(quick, "TeraTerm-Image"); err != nil {
			t.Fatalf("unthrottled calls limited: %v", err)
		}
	}

	// A factory that has sent nothing yet (the adaptive rate measures the
	// calls: after a burst, a first throttle would leave it fast).
	f := clients.New(env.Client, clients.Options{AWSRetryMaxBackoff: time.Millisecond, AllowedEndpoints: []string{"http://127.0.0.1"}})
	a, err := f.AWS(ctx, ns, accA.spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.AWS(ctx, ns, accB.spec)
	if err != nil || a == b {
		t.Fatalf("two environments got one client set (%v)", err)
	}

	// A's account throttles: A's call is answered with a throttle, returned
	// at once (the caller requeues), and the adaptive rate drops: after a
	// first throttle it is at most 0.7 × 1.6/s and the bucket empty, so the
	// next token is more than 0.8 s away, longer than A's next call may take.
	accA.faults.Add(fault.Rule{API: "appstream", Op: fault.Any, Kind: fault.Throttle})
	if _, err := a.AppStream.DescribeImage(ctx, "TeraTerm-Image"); !aws.IsThrottled(err) || errors.Is(err, aws.ErrRateLimited) {
		t.Fatalf("A: want AWS's throttle, got %v", err)
	}
	short, cancelA := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelA()
	if _, err := a.AppStream.DescribeImage(short, "TeraTerm-Image"); !errors.Is(err, aws.ErrRateLimited) {
		t.Fatalf("A: want the next call to wait for the adaptive rate, got %v", err)
	}
	if n := accA.faults.Count("appstream", "DescribeImages"); n != 1 {
		t.Fatalf("A: %d requests sent, want 1", n)
	}
	// B's account never throttled, but B's clients draw on the same rate: B's call waits too, and sends nothing.
	before := accB.faults.Count(fault.Any, fault.Any)
	shortB, cancelB := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelB()
	if _, err := b.AppStream.DescribeImage(shortB, "TeraTerm-Image"); !errors.Is(err, aws.ErrRateLimited) || !aws.IsThrottled(err) {
		t.Fatalf("B: want ErrRateLimited from the shared adaptive rate, got %v", err)
	}
	if n := accB.faults.Count(fault.Any, fault.Any); n != before {
		t.Fatalf("B: %d requests sent while the shared rate had no token", n-before)
	}

	// Another factory has its own rate; AWSCallsPerSecond still caps on top:
	// one call a thousand seconds (a burst of 1) refuses the second call at
	// once, before sending it.
	capped := clients.New(env.Client, clients.Options{AWSCallsPerSecond: 0.001, AWSRetryMaxBackoff: time.Millisecond, AllowedEndpoints: []string{"http://127.0.0.1"}})
	c, err := capped.AWS(ctx, ns, accB.spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppStream.DescribeImage(ctx, "TeraTerm-Image"); err != nil {
		t.Fatal(err)
	}
	before = accB.faults.Count(fault.Any, fault.Any)
	minute, cancelC := context.WithTimeout(ctx, time.Minute)
	defer cancelC()
	if _, err := c.AppStream.DescribeImage(minute, "TeraTerm-Image"); !errors.Is(err, aws.ErrRateLimited) {
		t.Fatalf("capped: want ErrRateLimited, got %v", err)
	}
	if n := accB.faults.Count(fault.Any, fault.Any); n != before {
		t.Fatalf("capped: %d requests sent over the cap", n-before)
	}
}
