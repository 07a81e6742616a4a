package portal

// Fuzz targets of what the portal reads from a request to decide who is
// asking: the signed session cookie and the authenticating proxy's identity
// headers. Run one with
//
//	go test ./internal/portal -run '^$' -fuzz '^FuzzSessionCookie$' -fuzztime 60s -parallel 1
//
// (the package's TestMain starts the control plane first, in the fuzzing
// process and in its worker).

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzSessionCookie: a session the portal encodes comes back unchanged
// through Set-Cookie and Cookie (for names cleanIdentity accepts); the same
// value with any byte changed, cut or extended, under the other cookie's
// name, signed by a removed key or written into an arbitrary Cookie header
// is never accepted as a different session; decoding arbitrary values never
// panics.
func FuzzSessionCookie(f *testing.F) {
	for _, s := range []struct {
		user, groups, email, csrf string
		expires, gen              int64
		cookieHeader              string
		pos                       uint16
		b                         byte
	}{
		{"user-a", "team-a", "", "t", 42, 0, "", 0, 'A'},
		{"user-b", "team-b,gatestream:admins", "b@example.com", randomToken(), 1788253200, 3, "gatestream-portal=x", 10, 'B'},
		{"jane.doe@example.com", "oidc:team a,oidc:team-b", "jane.doe@example.com", "c", 1 << 62, 1, "a=b; gatestream-portal=", 200, '='},
		{"Jane Doe", "", "", "", -1, -1, "gatestream-portal=MTc4ODI1MzIwMHxabc==; other=1", 65535, '\n'},
		{"ユーザー", "チーム", "ü@example.com", "🍪", 0, 0, `gatestream-portal="quoted"`, 3, 0},
		{"user-a", strings.Repeat("g,", 70), "", "t", 42, 0, "", 1, '_'},
	} {
		f.Add(s.user, s.groups, s.email, s.csrf, s.expires, s.gen, s.cookieHeader, s.pos, s.b)
	}
	old := []byte("old-key-old-key-old-key-old-key-old-key")
	cur := []byte("new-key-new-key-new-key-new-key-new-key")
	rotated, oldOnly, curOnly := testCodec(cur, old), testCodec(old), testCodec(cur)
	f.Fuzz(func(t *testing.T, user, groups, email, csrf string, expires, gen int64, cookieHeader string, pos uint16, b byte) {
		name := rotated.name(sessionCookie)
		var junk portalSession
		for _, v := range []string{cookieHeader, user, csrf} {
			if err := rotated.decode(name, v, &junk); err == nil {
				t.Fatalf("an arbitrary value is accepted: %q as %+v", v, junk)
			}
		}
		in := portalSession{User: user, Email: email, CSRF: csrf, Issued: expires - 3600, Expires: expires, Gen: gen}
		if groups != "" {
			in.Groups = strings.Split(groups, ",")
		}
		if id, err := cleanIdentity(in.identity()); err == nil {
			in.User, in.Groups = id.User, id.Groups // what the portal puts into a cookie
		}
		// Through the headers, as the portal and a browser carry it.
		rec := httptest.NewRecorder()
		err := rotated.set(rec, sessionCookie, &in, time.Hour)
		if errors.Is(err, errCookieTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("set: %v", err)
		}
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != name || len(cookies[0].Value) > maxCookieBytes {
			t.Fatalf("Set-Cookie %q", rec.Header().Values("Set-Cookie"))
		}
		value := cookies[0].Value
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(cookies[0])
		var out portalSession
		if err := rotated.get(req, sessionCookie, &out); err != nil {
			t.Fatalf("the portal's own cookie is refused: %v", err)
		}
		// JSON replaces invalid UTF-8; cleanIdentity refuses it in names.
		valid := utf8.ValidString(in.User) && utf8.ValidString(in.Email) && utf8.ValidString(in.CSRF) && utf8.ValidString(strings.Join(in.Groups, ""))
		if valid && !reflect.DeepEqual(out, in) {
			t.Fatalf("the cookie changed the session:\n%#v\n%#v", in, out)
		}
		genuine := out
		accepted := func(how, v string) {
			var got portalSession
			if rotated.decode(name, v, &got) == nil && !reflect.DeepEqual(got, genuine) {
				t.Fatalf("%s: a different session is accepted: %+v (value %q)", how, got, v)
			}
		}
		// Tampered: one byte changed, cut short, extended.
		i := int(pos) % len(value)
		if value[i] != b {
			accepted("byte changed", value[:i]+string(b)+value[i+1:])
		}
		accepted("cut", value[:i])
		accepted("extended", value+string(b))
		// Moved to the login cookie, or decoded by a codec without the signing key.
		if err := rotated.decode(rotated.name(loginCookie), value, &out); err == nil {
			t.Fatal("the session cookie is accepted as the login cookie")
		}
		if err := oldOnly.decode(name, value, &out); err == nil {
			t.Fatal("a codec without the current key accepts its cookie")
		}
		if err := curOnly.decode(name, value, &out); err != nil {
			t.Fatalf("the current key alone does not read it: %v", err)
		}
		// Written into an arbitrary Cookie header: the first gatestream-portal
		// cookie is the one read, and only the genuine value is a session.
		for _, hdr := range []string{cookieHeader, cookieHeader + "; " + name + "=" + value, name + "=" + value + "; " + cookieHeader} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", hdr)
			var got portalSession
			if rotated.get(r, sessionCookie, &got) == nil && !reflect.DeepEqual(got, genuine) {
				t.Fatalf("Cookie %q gives a different session %+v", hdr, got)
			}
		}
	})
}

// fuzzTrusted are the proxy's addresses in FuzzProxyIdentity.
var fuzzTrusted = []string{"127.0.0.1/32", "10.0.0.0/8", "fd00::/8"}

// FuzzProxyIdentity: the proxy's identity headers are read only from a
// trusted peer; a header given more than once is refused, never merged; a
// name with surrounding whitespace, another space than U+0020, a control or
// invisible formatting character or invalid UTF-8 is refused, never trimmed;
// system: users are refused and system: groups dropped; what is accepted is
// exactly what the headers said.
func FuzzProxyIdentity(f *testing.F) {
	v4 := func(a, b, c, d byte) []byte { return []byte{a, b, c, d} }
	for _, s := range []struct {
		ip                  []byte
		user, groups, email string
		flags               uint8
	}{
		{v4(127, 0, 0, 1), "user-b", "team-b", "b@example.com", 0},
		{v4(127, 0, 0, 1), "user-c", "team-a,team-b", "", fuzzUserTwice},
		{v4(127, 0, 0, 1), "user-c", "team-a", "", fuzzGroupsTwice},
		{v4(127, 0, 0, 1), "user-b", "", "a@example.com", fuzzEmailTwice},
		{v4(10, 1, 2, 3), "user-b\u00a0", "team-b", "", 0},
		{v4(10, 1, 2, 3), "user\u00a0b", "team-b", "", 0},
		{v4(10, 1, 2, 3), "user-c", "team-a ,team-b", "", 0},
		{v4(10, 1, 2, 3), "user-c", "team-a, team-b", "", 0},
		{v4(10, 1, 2, 3), "user-c", "team-a,\u00a0team-b", "", 0},
		{v4(10, 1, 2, 3), " user-a", "", "", 0},
		{v4(10, 1, 2, 3), "user-a\u200b", "", "", 0},
		{v4(10, 1, 2, 3), "user-a\u202e", "", "", 0},
		{v4(10, 1, 2, 3), "user-a", "\ufeffteam-b", "", 0},
		{v4(10, 1, 2, 3), "user-a\xff", "", "", 0},
		{v4(10, 1, 2, 3), "system:admin", "", "", 0},
		{v4(10, 1, 2, 3), "Jane Doe", "Team A,system:masters,Team A,,b", "", 0},
		{v4(10, 1, 2, 3), "user-a", strings.Repeat("g,", 65) + "h", "", 0},
		{v4(10, 1, 2, 3), "", "team-a", "", 0},
		{v4(10, 1, 2, 3), "user-a", "", "", fuzzNoUser},
		{v4(192, 168, 1, 1), "user-a", "team-a", "", 0},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}, "user-a", "team-a", "", 0},
		{[]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "user-a", "", "", 0},
		{[]byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "user-a", "", "", 0},
	} {
		f.Add(s.ip, uint16(40000), s.user, s.groups, s.email, s.flags)
	}
	cfg := DefaultConfig()
	cfg.PublicURL, cfg.AuthMode, cfg.OIDCIssuerURL, cfg.OIDCClientID, cfg.ProxyTrustedCIDRs = "https://portal.example.com", AuthProxy, "", "", fuzzTrusted
	cfg.SetSecrets([][]byte{testCookieKey}, "")
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	var nets []*net.IPNet
	for _, c := range fuzzTrusted {
		_, n, _ := net.ParseCIDR(c)
		nets = append(nets, n)
	}
	f.Fuzz(func(t *testing.T, ip []byte, port uint16, user, groups, email string, flags uint8) {
		var addr netip.Addr
		switch {
		case len(ip) >= 16:
			addr = netip.AddrFrom16([16]byte(ip[:16]))
		case len(ip) >= 4:
			addr = netip.AddrFrom4([4]byte(ip[:4]))
		default:
			return
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = netip.AddrPortFrom(addr, port).String() // what net/http sets
		headers := []struct {
			name, value string
			twice, omit uint8
		}{
			{cfg.ProxyUserHeader, user, fuzzUserTwice, fuzzNoUser},
			{cfg.ProxyGroupsHeader, groups, fuzzGroupsTwice, fuzzNoGroups},
			{cfg.ProxyEmailHeader, email, fuzzEmailTwice, fuzzNoEmail},
		}
		repeated := false
		for _, h := range headers {
			if flags&h.omit == 0 {
				r.Header.Add(h.name, h.value)
			}
			if flags&h.twice != 0 {
				r.Header.Add(strings.ToLower(h.name), h.value) // net/http canonicalises the name
				repeated = repeated || flags&h.omit == 0
			}
		}
		trustedWant := false
		for _, n := range nets {
			trustedWant = trustedWant || n.Contains(net.IP(addr.AsSlice()))
		}
		id, trusted, err := proxyIdentity(&cfg, r)
		if trusted != trustedWant {
			t.Fatalf("peer %s: trusted %v, want %v", r.RemoteAddr, trusted, trustedWant)
		}
		if !trusted {
			if err == nil || !reflect.DeepEqual(id, identity{}) {
				t.Fatalf("untrusted peer %s: %+v, %v", r.RemoteAddr, id, err)
			}
			return
		}
		var rep *repeatedHeaderError
		if repeated != errors.As(err, &rep) {
			t.Fatalf("repeated headers %v, error %v", repeated, err)
		}
		if repeated {
			return
		}
		header := func(i int) string { return r.Header.Get(headers[i].name) }
		var rawGroups []string
		if g := header(1); g != "" {
			rawGroups = strings.Split(g, ",")
		}
		// The refusal the documented rules call for.
		var why string
		switch u := header(0); {
		case u == "":
			why = "no user"
		case refusedName(u):
			why = "user name"
		case strings.HasPrefix(u, "system:"):
			why = "system user"
		}
		var kept []string
		for _, g := range rawGroups {
			switch {
			case g == "":
			case refusedName(g):
				if why == "" {
					why = "group name " + g
				}
			case !strings.HasPrefix(g, "system:") && !slices.Contains(kept, g):
				kept = append(kept, g)
			}
		}
		if why == "" && len(kept) > maxGroups {
			why = "too many groups"
		}
		switch {
		case why != "" && err == nil:
			t.Fatalf("accepted %+v although: %s", id, why)
		case why == "" && err != nil:
			t.Fatalf("user %q groups %q refused: %v", header(0), header(1), err)
		case err == nil && (id.User != header(0) || id.Email != header(2) || !slices.Equal(id.Groups, kept)):
			t.Fatalf("headers %q %q %q became %+v", header(0), header(1), header(2), id)
		}
	})
}

// Flags of FuzzProxyIdentity: a header sent twice, or not at all.
const (
	fuzzUserTwice uint8 = 1 << iota
	fuzzGroupsTwice
	fuzzEmailTwice
	fuzzNoUser
	fuzzNoGroups
	fuzzNoEmail
)

// refusedName restates the documented rule of checkName: invalid UTF-8,
// surrounding whitespace, any space other than U+0020, control and
// invisible formatting characters (and U+FFFD) are refused.
func refusedName(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return true
	}
	for _, r := range s {
		if (unicode.IsSpace(r) && r != ' ') || unicode.IsControl(r) || unicode.In(r, unicode.Cf) || r == utf8.RuneError {
			return true
		}
	}
	return false
}
