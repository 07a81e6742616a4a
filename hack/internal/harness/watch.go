package harness

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrRetry asks Retry for another attempt (and Follow's watch loop for a new list).
var ErrRetry = errors.New("retry")

// Follow lists the objects of list's kind (with opts), then watches from the
// list's resourceVersion, handing every object it sees to seen, until done()
// holds. A watch that ends or reports an error (the API server closes
// watches now and then, and after a restart) is followed by a new list: the
// caller never fails because a watch closed. check runs every second and ends
// the wait with its error.
func Follow(ctx context.Context, c client.WithWatch, list client.ObjectList, opts []client.ListOption, seen func(client.Object), done func() bool, check func() error) error {
	return follow(ctx, c, list, opts, false, func(t watch.EventType, o client.Object) {
		if t != watch.Deleted {
			seen(o)
		}
	}, done, check)
}

// FollowEvents is Follow for a caller that must see every change: a watch
// that ends is opened again from the last resourceVersion it delivered
// (bookmarks included), so that no event in between is lost; only when the
// API server no longer has that version (410 Gone, as after its restart) is
// the kind listed again. seen gets the event type (watch.Added for listed
// objects, watch.Deleted too). It runs until ctx ends or check fails.
func FollowEvents(ctx context.Context, c client.WithWatch, list client.ObjectList, opts []client.ListOption, seen func(watch.EventType, client.Object), check func() error) error {
	return follow(ctx, c, list, opts, true, seen, func() bool { return false }, check)
}

func follow(ctx context.Context, c client.WithWatch, list client.ObjectList, opts []client.ListOption, resume bool,
	seen func(watch.EventType, client.Object), done func() bool, check func() error) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	rv := ""
	for {
		if err := check(); err != nil {
			return err
		}
		if rv == "" {
			l := list.DeepCopyObject().(client.ObjectList)
			if err := c.List(ctx, l, opts...); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !pause(ctx, 500*time.Millisecond) { // a busy or restarting server: list again
					return ctx.Err()
				}
				continue
			}
			_ = meta.EachListItem(l, func(o runtime.Object) error {
				seen(watch.Added, o.(client.Object))
				return nil
			})
			if done() {
				return nil
			}
			rv = l.GetResourceVersion()
		}
		wopts := append(slices.Clone(opts), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		w, err := c.Watch(ctx, list.DeepCopyObject().(client.ObjectList), wopts...)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !resume || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
			}
			if !pause(ctx, 200*time.Millisecond) {
				return ctx.Err()
			}
			continue
		}
		last, err := drain(ctx, w, tick.C, seen, done, check)
		if !errors.Is(err, ErrRetry) {
			return err
		}
		switch {
		case !resume || last == "":
			rv = ""
		case last != "-":
			rv = last
		}
	}
}

// pause waits d unless ctx ends first (false then).
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// drain handles one watch; ErrRetry asks follow to watch again. It returns
// the last resourceVersion delivered ("-" when none was, "" when the watch
// reported an error: list again).
func drain(ctx context.Context, w watch.Interface, tick <-chan time.Time, seen func(watch.EventType, client.Object), done func() bool, check func() error) (string, error) {
	defer w.Stop()
	// A watch that says nothing for a minute is opened again, in case it is stuck.
	quiet := time.NewTimer(time.Minute)
	defer quiet.Stop()
	last := "-"
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return last, ErrRetry
			}
			if ev.Type == watch.Error {
				return "", ErrRetry
			}
			o, isObj := ev.Object.(client.Object)
			if isObj {
				if rv := o.GetResourceVersion(); rv != "" {
					last = rv
				}
				if ev.Type != watch.Bookmark {
					seen(ev.Type, o)
				}
			}
			if done() {
				return last, nil
			}
			quiet.Reset(time.Minute)
		case <-quiet.C:
			return last, ErrRetry
		case <-tick:
			if err := check(); err != nil {
				return last, err
			}
		case <-ctx.Done():
			return last, ctx.Err()
		}
	}
}

// Retry runs op until it succeeds or fails for good; transient failures (a
// busy or restarting API server, a dropped connection) get up to 10 attempts
// with backoff.
func Retry(ctx context.Context, op func() error) error {
	var err error
	for attempt := range 10 {
		if err = op(); err == nil || !Transient(err) {
			return err
		}
		if !pause(ctx, min(50*time.Millisecond<<attempt, 5*time.Second)) {
			return ctx.Err()
		}
	}
	return err
}

// Transient reports errors worth another attempt: ErrRetry, the API server's
// timeouts, throttling and 5xx, and connection failures.
func Transient(err error) bool {
	var netErr net.Error
	return errors.Is(err, ErrRetry) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsUnexpectedServerError(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &netErr) || strings.Contains(err.Error(), "connection reset")
}

// CreateOrGet creates obj, retrying transient errors; AlreadyExists after a
// retried create means an earlier attempt succeeded: obj is read back.
func CreateOrGet(ctx context.Context, c client.Client, obj client.Object) error {
	return Retry(ctx, func() error {
		err := c.Create(ctx, obj)
		if apierrors.IsAlreadyExists(err) {
			return c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		}
		return err
	})
}

// Parallel runs fn(i) for i in [0, n) on workers goroutines; the first error
// stops the others and is returned.
func Parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
