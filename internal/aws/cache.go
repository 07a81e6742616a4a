package aws

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sync"
	"time"
)

// DefaultCacheSize is the number of client sets a zero Cache keeps.
const DefaultCacheSize = 64

// Cache reuses Clients across reconciles. Entries are keyed by a hash of the
// region, endpoints, credentials (static keys or default chain), role and
// retry settings, so a changed Secret yields new clients while an unchanged
// one keeps its clients (and their credential and retry-token caches). The
// Limiter, Retryers (the shared adaptive rates), Observe and HTTPClient of
// the Config that created an entry are the ones it keeps: pass the same ones
// every time. The least recently used
// entries beyond MaxEntries are dropped. Safe for concurrent use; the zero
// value is ready.
type Cache struct {
	// MaxEntries bounds the cache; 0 means DefaultCacheSize.
	MaxEntries int

	mu      sync.Mutex
	entries map[string]*cacheEntry
	tick    uint64
	build   func(context.Context, Config) (*Clients, error) // New; replaced in tests
}

type cacheEntry struct {
	done    chan struct{} // closed when clients/err are set
	clients *Clients
	err     error
	used    uint64
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{} }

// Get returns the Clients for cfg, building them on first use. Concurrent
// callers with the same key share one build. A failed build is not cached.
func (c *Cache) Get(ctx context.Context, cfg Config) (*Clients, error) {
	key := cacheKey(cfg)
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*cacheEntry{}
	}
	c.tick++
	if e, ok := c.entries[key]; ok {
		e.used = c.tick
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.clients, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e := &cacheEntry{done: make(chan struct{}), used: c.tick}
	c.entries[key] = e
	c.evictLocked()
	build := c.build
	c.mu.Unlock()

	if build == nil {
		build = New
	}
	e.clients, e.err = build(ctx, cfg)
	if e.err != nil {
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	close(e.done)
	return e.clients, e.err
}

// Len returns the number of cached client sets.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) evictLocked() {
	limit := c.MaxEntries
	if limit <= 0 {
		limit = DefaultCacheSize
	}
	for len(c.entries) > limit {
		var oldKey string
		var oldest uint64
		for k, e := range c.entries {
			if oldKey == "" || e.used < oldest {
				oldKey, oldest = k, e.used
			}
		}
		delete(c.entries, oldKey) // callers waiting on it still get its result
	}
}

// cacheKey hashes what identifies a client set. Each field is length-prefixed,
// so no two different Configs collide by concatenation. Only the hash is kept.
func cacheKey(cfg Config) string {
	h := sha256.New()
	put := func(s string) { writeField(h, s) }
	put(cfg.Region)
	put(cfg.AppStreamEndpoint)
	put(cfg.EC2Endpoint)
	put(cfg.STSEndpoint)
	if cfg.Static != nil {
		put("static")
		put(cfg.Static.AccessKeyID)
		put(cfg.Static.SecretAccessKey)
		put(cfg.Static.SessionToken)
	} else {
		put("default-chain")
	}
	put(cfg.RoleARN)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(cfg.RetryMaxAttempts))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(cfg.RetryMaxBackoff/time.Nanosecond))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))
}

func writeField(h hash.Hash, s string) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(len(s)))
	h.Write(b[:])
	h.Write([]byte(s))
}
