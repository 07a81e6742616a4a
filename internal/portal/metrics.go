package portal

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/time/rate"
)

// Results of a connect, the label of gatestream_portal_connects_total.
const (
	resultOK          = "ok"           // the browser was sent to the URL
	resultFailed      = "failed"       // the session reached phase Failed
	resultTimeout     = "timeout"      // no URL within --connect-timeout
	resultDenied      = "denied"       // RBAC (SubjectAccessReview or the API server) refused
	resultInvalid     = "invalid"      // bad request, unusable user name, or admission refused
	resultUnavailable = "unavailable"  // environment not Ready, device offline or unknown
	resultRateLimited = "rate_limited" // over the per-person rate
	resultError       = "error"        // the API server failed
)

var allResults = []string{resultOK, resultFailed, resultTimeout, resultDenied, resultInvalid, resultUnavailable, resultRateLimited, resultError}

type metrics struct {
	registry       *prometheus.Registry
	connects       *prometheus.CounterVec
	ends           prometheus.Counter
	connectSeconds prometheus.Histogram
	openWaits      prometheus.Gauge
	openLimited    prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatestream_portal_connects_total",
			Help: "Connect clicks by result: ok (browser sent to the URL), failed, timeout, denied, invalid, unavailable, rate_limited, error.",
		}, []string{"result"}),
		ends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatestream_portal_ends_total",
			Help: "Sessions ended (deleted) from the portal.",
		}),
		connectSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatestream_portal_connect_seconds",
			Help:    "Time from a Connect click to the redirect to the streaming URL (observed by the replica that took the click).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120},
		}),
		openWaits: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatestream_portal_open_waits",
			Help: "Progress pages waiting for a URL (/open long-polls) on this replica.",
		}),
		openLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatestream_portal_open_limited_total",
			Help: "Progress-page waits refused (429) because the person had --long-polls-per-person waiting already.",
		}),
	}
	for _, r := range allResults {
		m.connects.WithLabelValues(r)
	}
	m.registry.MustRegister(m.connects, m.ends, m.connectSeconds, m.openWaits, m.openLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// pendingConnects remembers when each connect was clicked, to observe the
// latency and the final result once, when the browser is sent to the URL.
type pendingConnects struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (p *pendingConnects) add(key string, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]time.Time{}
	}
	for k, v := range p.m { // drop abandoned entries
		if t.Sub(v) > time.Hour {
			delete(p.m, k)
		}
	}
	p.m[key] = t
}

// take returns and forgets the click time of key.
func (p *pendingConnects) take(key string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.m[key]
	delete(p.m, key)
	return t, ok
}

// userLimiter is a token bucket per person.
type userLimiter struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	m     map[string]*limiterEntry
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newUserLimiter(perMinute float64, burst int) *userLimiter {
	return &userLimiter{limit: rate.Limit(perMinute / 60), burst: burst, m: map[string]*limiterEntry{}}
}

// allow takes a token of the person's bucket at now; when there is none it
// returns false and how long until there is.
func (u *userLimiter) allow(user string, now time.Time) (bool, time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.m) > 10000 {
		for k, e := range u.m {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(u.m, k)
			}
		}
	}
	e, ok := u.m[user]
	if !ok {
		e = &limiterEntry{l: rate.NewLimiter(u.limit, u.burst)}
		u.m[user] = e
	}
	e.seen = now
	r := e.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// waitSlots bounds how many long-polls each person has waiting at once.
type waitSlots struct {
	mu  sync.Mutex
	max int
	m   map[string]int
}

// acquire takes one of the person's slots, if one is free.
func (w *waitSlots) acquire(user string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]int{}
	}
	if w.m[user] >= w.max {
		return false
	}
	w.m[user]++
	return true
}

func (w *waitSlots) release(user string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[user]--; w.m[user] <= 0 {
		delete(w.m, user)
	}
}
