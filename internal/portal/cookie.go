package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// maxCookieBytes keeps a cookie under browsers' 4 KiB limit with room for its
// attributes; an identity with too many groups is refused with a clear page.
const maxCookieBytes = 3800

var errBadCookie = errors.New("cookie missing, malformed or not signed by any current key")

// codec signs cookie values with HMAC-SHA256. The first key signs; every key
// verifies, so keys can be rotated by prepending a new one and dropping the
// oldest after the session TTL. The MAC covers the cookie's name, so a value
// cannot be moved from one cookie to another.
type codec struct {
	keys   [][]byte
	secure bool
}

func (c *codec) mac(key []byte, name, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (c *codec) encode(name string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(c.mac(c.keys[0], name, payload)), nil
}

func (c *codec) decode(name, value string, v any) error {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok {
		return errBadCookie
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return errBadCookie
	}
	valid := false
	for _, k := range c.keys {
		if hmac.Equal(got, c.mac(k, name, payload)) {
			valid = true
			break
		}
	}
	if !valid {
		return errBadCookie
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return errBadCookie
	}
	if err := json.Unmarshal(b, v); err != nil {
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
