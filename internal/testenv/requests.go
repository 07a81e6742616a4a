package testenv

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// RequestCounter counts the requests a client makes to the API server, by
// "VERB resource" (watches aside: they are long-lived streams, not requests
// per object). Counts are exact where times are noisy.
type RequestCounter struct {
	mu sync.Mutex
	n  map[string]int
}

// Counting returns a copy of e whose Config counts every request in c.
func Counting(e *Env, c *RequestCounter) *Env {
	counted := *e
	counted.Config = rest.CopyConfig(e.Config)
	counted.Config.WrapTransport = c.wrap
	return &counted
}

func (c *RequestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if r.URL.Query().Get("watch") == "true" {
			return resp, err
		}
		key := r.Method + " " + resourceOf(r.URL.Path)
		if err == nil && resp.StatusCode == http.StatusConflict {
			key += " 409"
		}
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[key]++
		c.mu.Unlock()
		return resp, err
	})
}

// resourceOf names the resource of an API path (".../namespaces/ns/secrets/x"
// is "secrets", ".../streamingsessions/x/status" is "streamingsessions/status").
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			if len(rest) >= 3 {
				return rest[0] + "/" + rest[2]
			}
			return rest[0]
		}
	}
	if len(parts) > 0 {
		return parts[len(parts)-1]
	}
	return path
}

// Snapshot returns the counts so far.
func (c *RequestCounter) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// Since returns the counts made after an earlier Snapshot (zero counts left out).
func (c *RequestCounter) Since(before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range c.Snapshot() {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// Total adds up counts.
func Total(counts map[string]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}

// Format prints counts sorted by key.
func Format(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return strings.Join(parts, " ")
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
