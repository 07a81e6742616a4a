package aws

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
)

func TestCacheReusesAndRebuilds(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	c := NewCache()
	ctx := context.Background()
	cfg := e.config()

	a := must(c.Get(ctx, cfg))(t)
	cfg2 := e.config() // equal content, distinct pointers
	if b := must(c.Get(ctx, cfg2))(t); b != a {
		t.Fatal("same Config must return the same *Clients")
	}
	// The Secret changed: new clients signed with the new key.
	rotated := e.config()
	rotated.Static = &StaticCredentials{AccessKeyID: "AKIAROTATEDKEY000002", SecretAccessKey: "rotated-secret"}
	r := must(c.Get(ctx, rotated))(t)
	if r == a {
		t.Fatal("changed static credentials must return new clients")
	}
	must(r.AppStream.DescribeImage(ctx, "TeraTerm-Image"))(t)
	auths := e.asLog.all()
	if !contains(auths[len(auths)-1], "Credential=AKIAROTATEDKEY000002/") {
		t.Fatalf("rebuilt clients do not use the new key: %q", auths[len(auths)-1])
	}
	// Only the secret changed: still a new key.
	secretOnly := e.config()
	secretOnly.Static.SecretAccessKey = "other"
	if s := must(c.Get(ctx, secretOnly))(t); s == a || s == r {
		t.Fatal("a changed secret access key must return new clients")
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.Region = "us-east-1" },
		func(c *Config) { c.AppStreamEndpoint = "http://127.0.0.1:2" },
		func(c *Config) { c.EC2Endpoint = "http://127.0.0.1:2" },
		func(c *Config) { c.RoleARN = "arn:aws:iam::123456789012:role/x" },
		func(c *Config) { c.Static = nil },
	} {
		m := e.config()
		mod(&m)
		if cacheKey(m) == cacheKey(cfg) {
			t.Fatalf("key ignores a change: %v", m)
		}
	}
	// Things the key must not depend on.
	same := e.config()
	same.Observe = func(string, string, error, time.Duration) {}
	if cacheKey(same) != cacheKey(cfg) {
		t.Fatal("key must not depend on Observe")
	}
	if a2 := must(c.Get(ctx, cfg))(t); a2 != a {
		t.Fatal("original Config must still map to the original clients")
	}
}

func TestCacheConcurrentGetBuildsOnce(t *testing.T) {
	var builds atomic.Int32
	c := &Cache{build: func(ctx context.Context, cfg Config) (*Clients, error) {
		builds.Add(1)
		return &Clients{}, nil
	}}
	cfg := Config{Region: testRegion, Static: &StaticCredentials{AccessKeyID: "a", SecretAccessKey: "b"}}
	var wg sync.WaitGroup
	results := make([]*Clients, 32)
	for i := range results {
		wg.Go(func() {
			cl, err := c.Get(context.Background(), cfg)
			if err != nil {
				t.Error(err)
			}
			results[i] = cl
		})
	}
	wg.Wait()
	if builds.Load() != 1 {
		t.Fatalf("builds: %d, want 1", builds.Load())
	}
	for _, r := range results {
		if r != results[0] {
			t.Fatal("concurrent Gets returned different clients")
		}
	}
}

func TestCacheFailedBuildNotCachedAndEviction(t *testing.T) {
	fail := true
	var builds int
	c := &Cache{MaxEntries: 2, build: func(ctx context.Context, cfg Config) (*Clients, error) {
		builds++
		if fail {
			return nil, errors.New("boom")
		}
		return &Clients{}, nil
	}}
	ctx := context.Background()
	cfg := func(r string) Config { return Config{Region: r} }
	if _, err := c.Get(ctx, cfg("a")); err == nil {
		t.Fatal("want build error")
	}
	fail = false
	a := must(c.Get(ctx, cfg("a")))(t)
	if builds != 2 || c.Len() != 1 {
		t.Fatalf("failed build was cached: builds %d len %d", builds, c.Len())
	}
	must(c.Get(ctx, cfg("b")))(t)
	must(c.Get(ctx, cfg("a")))(t) // a is now more recent than b
	must(c.Get(ctx, cfg("c")))(t) // evicts b
	if c.Len() != 2 {
		t.Fatalf("len %d, want 2", c.Len())
	}
	if got := must(c.Get(ctx, cfg("a")))(t); got != a {
		t.Fatal("recently used entry was evicted")
	}
	n := builds
	must(c.Get(ctx, cfg("b")))(t)
	if builds != n+1 {
		t.Fatal("least recently used entry was not evicted")
	}
}
