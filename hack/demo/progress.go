package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// printer writes lines prefixed with the time since the demo started.
type printer struct {
	mu sync.Mutex
	w  io.Writer
	t0 time.Time
}

func (p *printer) elapsed() time.Duration { return time.Since(p.t0).Round(time.Second) }

func (p *printer) step(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%4.0fs] %s\n", time.Since(p.t0).Seconds(), fmt.Sprintf(format, args...))
}

func (p *printer) raw(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// heartbeat is how often an unchanged progress line is printed again.
const heartbeat = 10 * time.Second

// pollEvery is how often the demo reads the objects it waits for.
const pollEvery = time.Second

// observation is one look at what the demo waits for.
type observation struct {
	// line is the compact progress line.
	line string
	// done is true when the wait is over.
	done bool
	// stuck names what is not ready yet, for the timeout message.
	stuck string
	// fatal ends the wait at once (a terminal failure).
	fatal error
	// objects are the objects waited for, to quote the manager's last error about them.
	objects []types.NamespacedName
}

// waitUntil polls observe every second until it reports done, printing its
// line when it changes and every heartbeat. It fails at deadline with the last
// stuck description and a pointer to the manager log.
func waitUntil(ctx context.Context, p *printer, deadline time.Time, timeout time.Duration, logPath string, observe func(context.Context) observation) error {
	var last string
	var lastPrinted time.Time
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		o := observe(ctx)
		if o.line != last || time.Since(lastPrinted) >= heartbeat {
			p.step("%s", o.line)
			last, lastPrinted = o.line, time.Now()
		}
		if o.fatal != nil {
			return fmt.Errorf("%w%s\n      the manager's log: %s", o.fatal, lastLoggedError(logPath, o.objects), logPath)
		}
		if o.done {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("timed out after %s (--timeout): %s%s\n      the manager's log: %s",
				timeout, o.stuck, lastLoggedError(logPath, o.objects), logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// conditionsLine renders conditions compactly: Ready first, then the others in
// status order; reasons only for those that are not True.
// Example: Ready=False GatewayReady=True PeeringReady=False(PeeringPending).
func conditionsLine(conds []metav1.Condition) string {
	if len(conds) == 0 {
		return "no status yet"
	}
	var b strings.Builder
	write := func(c metav1.Condition) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", c.Type, c.Status)
		if c.Status != metav1.ConditionTrue && c.Reason != "" {
			fmt.Fprintf(&b, "(%s)", c.Reason)
		}
	}
	for _, c := range conds {
		if c.Type == accessv1alpha1.ConditionReady {
			write(c)
		}
	}
	for _, c := range conds {
		if c.Type != accessv1alpha1.ConditionReady {
			write(c)
		}
	}
	return b.String()
}

// readyNow reports Ready=True for the object's current generation.
func readyNow(conds []metav1.Condition, generation, observed int64) bool {
	for _, c := range conds {
		if c.Type == accessv1alpha1.ConditionReady {
			return c.Status == metav1.ConditionTrue && observed == generation &&
				(c.ObservedGeneration == 0 || c.ObservedGeneration == generation)
		}
	}
	return false
}

// stuckCondition names the condition that holds an object back: Synced=False
// (the last pass failed) first, then the first unit that is not True, then Ready.
func stuckCondition(kind, key string, conds []metav1.Condition) string {
	if len(conds) == 0 {
		return fmt.Sprintf("%s %s has no status: is its controller running?", kind, key)
	}
	pick := func(c metav1.Condition) string {
		msg := fmt.Sprintf("%s %s is not Ready: %s=%s (%s)", kind, key, c.Type, c.Status, c.Reason)
		if c.Message != "" {
			msg += ": " + c.Message
		}
		return msg
	}
	for _, c := range conds {
		if c.Type == accessv1alpha1.ConditionSynced && c.Status == metav1.ConditionFalse {
			return pick(c)
		}
	}
	for _, c := range conds {
		if c.Type != accessv1alpha1.ConditionReady && c.Type != accessv1alpha1.ConditionSynced && c.Status != metav1.ConditionTrue {
			return pick(c)
		}
	}
	for _, c := range conds {
		if c.Type == accessv1alpha1.ConditionReady {
			return pick(c)
		}
	}
	return fmt.Sprintf("%s %s has no Ready condition yet", kind, key)
}

// environmentState observes the RemoteAccessEnvironment.
func environmentState(ctx context.Context, c client.Client, key types.NamespacedName) (line string, ready bool, stuck string) {
	name := "RemoteAccessEnvironment " + key.String()
	var env accessv1alpha1.RemoteAccessEnvironment
	if err := c.Get(ctx, key, &env); err != nil {
		return fmt.Sprintf("%s: %s", name, shortErr(err)), false, fmt.Sprintf("%s: %v", name, err)
	}
	ready = readyNow(env.Status.Conditions, env.Generation, env.Status.ObservedGeneration)
	line = fmt.Sprintf("%s: %s", name, conditionsLine(env.Status.Conditions))
	return line, ready, stuckCondition("RemoteAccessEnvironment", key.String(), env.Status.Conditions)
}

// deviceGroupState observes the DeviceGroup.
func deviceGroupState(ctx context.Context, c client.Client, key types.NamespacedName) (line string, ready bool, stuck string) {
	name := "DeviceGroup " + key.String()
	var dg accessv1alpha1.DeviceGroup
	if err := c.Get(ctx, key, &dg); err != nil {
		return fmt.Sprintf("%s: %s", name, shortErr(err)), false, fmt.Sprintf("%s: %v", name, err)
	}
	ready = readyNow(dg.Status.Conditions, dg.Generation, dg.Status.ObservedGeneration)
	line = fmt.Sprintf("%s: %s", name, conditionsLine(dg.Status.Conditions))
	if dg.Status.SIMs.Total > 0 {
		line += fmt.Sprintf(" sims=%d/%d online", dg.Status.SIMs.Online, dg.Status.SIMs.Total)
	}
	return line, ready, stuckCondition("DeviceGroup", key.String(), dg.Status.Conditions)
}

// sessionState observes the StreamingSession; Failed is fatal.
func sessionState(ctx context.Context, c client.Client, key types.NamespacedName) (o observation, ss *accessv1alpha1.StreamingSession) {
	name := "StreamingSession " + key.String()
	ss = &accessv1alpha1.StreamingSession{}
	if err := c.Get(ctx, key, ss); err != nil {
		return observation{line: fmt.Sprintf("%s: %s", name, shortErr(err)), stuck: fmt.Sprintf("%s: %v", name, err), objects: []types.NamespacedName{key}}, nil
	}
	o.objects = []types.NamespacedName{key}
	phase := string(ss.Status.Phase)
	if phase == "" {
		phase = "(none)"
	}
	o.line = fmt.Sprintf("%s: phase=%s %s", name, phase, conditionsLine(ss.Status.Conditions))
	switch ss.Status.Phase {
	case accessv1alpha1.SessionReady, accessv1alpha1.SessionActive:
		o.done = ss.Status.SecretName != ""
	case accessv1alpha1.SessionFailed, accessv1alpha1.SessionExpired, accessv1alpha1.SessionEnded, accessv1alpha1.SessionRevoked:
		o.fatal = fmt.Errorf("%s", strings.Replace(stuckCondition("StreamingSession", key.String(), ss.Status.Conditions),
			"is not Ready", "is "+string(ss.Status.Phase), 1))
	}
	o.stuck = stuckCondition("StreamingSession", key.String(), ss.Status.Conditions)
	if ss.Status.Phase != "" {
		o.stuck = fmt.Sprintf("%s (phase %s)", o.stuck, phase)
	}
	return o, ss
}

// lastLoggedError quotes the last error the manager logged about one of the
// objects ("" if none): the reason an object has no status is often there.
func lastLoggedError(logPath string, objects []types.NamespacedName) string {
	data, err := os.ReadFile(logPath)
	if err != nil || len(objects) == 0 {
		return ""
	}
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		if !strings.Contains(line, "\tERROR\t") {
			continue
		}
		j := strings.IndexByte(line, '{')
		if j < 0 {
			continue
		}
		var fields map[string]any
		if json.Unmarshal([]byte(line[j:]), &fields) != nil {
			continue
		}
		for _, o := range objects {
			if fields["name"] == o.Name && fields["namespace"] == o.Namespace {
				msg, _ := fields["error"].(string)
				if msg == "" {
					continue
				}
				return fmt.Sprintf("\n      the manager's last error about %s: %s", o, msg)
			}
		}
	}
	return ""
}

func shortErr(err error) string {
	if apierrors.IsNotFound(err) {
		return "not found"
	}
	return err.Error()
}
