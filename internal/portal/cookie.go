package portal

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/securecookie"
)

// maxCookieBytes keeps a cookie under browsers' 4 KiB limit with room for its
// attributes; an identity with too many groups is refused with a clear page.
const maxCookieBytes = 3800

var errBadCookie = errors.New("cookie missing, malformed or not signed by any current key")

// cookieKeys are the portal's cookie keys as securecookie codecs, newest
// first: the first signs and encrypts, every one decodes, so keys rotate by
// putting a new key first and dropping the oldest after the session TTL.
// With a key file (a mounted Secret, which the kubelet updates in place) the
// file is read again at most every reloadEvery, so rotation needs no restart;
// a file that cannot be read or parsed keeps the keys in use.
type cookieKeys struct {
	file        string
	reloadEvery time.Duration
	maxAge      time.Duration
	now         func() time.Time
	log         logr.Logger

	mu      sync.Mutex
	keys    [][]byte
	codecs  []securecookie.Codec
	checked time.Time
}

func newCookieKeys(keys [][]byte, file string, reloadEvery, maxAge time.Duration, now func() time.Time, log logr.Logger) *cookieKeys {
	k := &cookieKeys{file: file, reloadEvery: reloadEvery, maxAge: maxAge, now: now, log: log, checked: now()}
	k.use(keys)
	return k
}

// current returns the codecs of the current keys, newest first.
func (k *cookieKeys) current() []securecookie.Codec {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := k.now(); k.file != "" && now.Sub(k.checked) >= k.reloadEvery {
		k.checked = now
		keys, err := readKeyFile(k.file)
		switch {
		case err != nil:
			k.log.Error(err, "re-reading the cookie keys; keeping the current ones", "file", k.file)
		case !slices.EqualFunc(keys, k.keys, bytes.Equal):
			k.use(keys)
			k.log.Info("cookie keys reloaded", "file", k.file, "keys", len(keys))
		}
	}
	return k.codecs
}

// use makes a securecookie key pair of each key: an HMAC-SHA256 key that
// authenticates the cookie's name, time and value, and an AES-256 key that
// encrypts the value, both derived from the key with HKDF-SHA256.
func (k *cookieKeys) use(keys [][]byte) {
	pairs := make([][]byte, 0, 2*len(keys))
	for _, key := range keys {
		pairs = append(pairs, deriveKey(key, "hmac-sha256"), deriveKey(key, "aes-256"))
	}
	k.keys, k.codecs = keys, securecookie.CodecsFromPairs(pairs...)
	for _, c := range k.codecs {
		// The value's size is checked against maxCookieBytes instead.
		c.(*securecookie.SecureCookie).SetSerializer(securecookie.JSONEncoder{}).MaxAge(int(k.maxAge / time.Second)).MaxLength(0)
	}
}

func deriveKey(key []byte, purpose string) []byte {
	b, err := hkdf.Key(sha256.New, key, nil, "gatestream-portal cookie "+purpose, 32)
	if err != nil {
		panic(err) // only for lengths beyond 255 hashes
	}
	return b
}

// codec reads and writes the portal's cookies. The cookie's name is part of
// what is authenticated, so a value cannot be moved from one cookie to another.
type codec struct {
	keys   *cookieKeys
	secure bool
}

func (c *codec) encode(name string, v any) (string, error) {
	return securecookie.EncodeMulti(name, v, c.keys.current()...)
}

func (c *codec) decode(name, value string, v any) error {
	if err := securecookie.DecodeMulti(name, value, v, c.keys.current()...); err != nil {
		return errBadCookie
	}
	return nil
}

// name returns the cookie's name: with the __Host- prefix when Secure (the
// browser then insists on Secure, Path=/ and no Domain).
func (c *codec) name(base string) string {
	if c.secure {
		return "__Host-" + base
	}
	return base
}

func (c *codec) set(w http.ResponseWriter, base string, v any, maxAge time.Duration) error {
	val, err := c.encode(c.name(base), v)
	if err != nil {
		return err
	}
	if len(val) > maxCookieBytes {
		return errCookieTooLarge
	}
	http.SetCookie(w, &http.Cookie{
		Name: c.name(base), Value: val, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (c *codec) clear(w http.ResponseWriter, base string) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name(base), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (c *codec) get(r *http.Request, base string, v any) error {
	ck, err := r.Cookie(c.name(base))
	if err != nil {
		return errBadCookie
	}
	return c.decode(c.name(base), ck.Value, v)
}

var errCookieTooLarge = errors.New("the identity does not fit in a cookie (too many groups)")

// Cookie base names.
const (
	sessionCookie = "gatestream-portal"
	loginCookie   = "gatestream-portal-login"
)

// portalSession is the signed content of the session cookie: who the person
// is, the CSRF token bound to this sign-in, and when it ends.
type portalSession struct {
	User    string   `json:"u"`
	Groups  []string `json:"g,omitempty"`
	Email   string   `json:"e,omitempty"`
	CSRF    string   `json:"c"`
	Issued  int64    `json:"i"`
	Expires int64    `json:"x"`
	// Gen is the person's sign-in generation when the cookie was issued
	// (oidc mode): a sign-out raises it, and older cookies are refused.
	Gen int64 `json:"n,omitempty"`
}

func (s *portalSession) identity() identity {
	return identity{User: s.User, Groups: s.Groups, Email: s.Email}
}

// loginState is the signed content of the short-lived cookie that carries an
// OIDC sign-in from /auth/start to /auth/callback.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"r"`
	Expires  int64  `json:"x"`
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func constantTimeEqual(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
