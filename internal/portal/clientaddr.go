package portal

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the person's own address, the source range of their Napter
// sessions. It is the direct peer (r.RemoteAddr) unless that peer is one of
// --trusted-proxies: then X-Forwarded-For is read from the right, skipping the
// trusted proxies, and the first other address is the person's. A header
// from any other peer is ignored, so that nobody can open a mapping to an
// address they chose by sending the header themselves.
func clientAddr(cfg *Config, r *http.Request) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("unknown remote address %q", r.RemoteAddr)
	}
	peer := ap.Addr().Unmap()
	if !isTrustedProxy(cfg, peer) {
		return peer, nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseForwardedAddr(hops[i])
		if err != nil {
			return netip.Addr{}, fmt.Errorf("X-Forwarded-For from trusted proxy %s has an entry %q that is no address", addr, hops[i])
		}
		addr = a
		if !isTrustedProxy(cfg, a) {
			return a, nil
		}
	}
	// Every hop is a trusted proxy (or there is no header): the left-most is
	// the nearest we know to the person.
	return addr, nil
}

// parseForwardedAddr parses one X-Forwarded-For entry: an address, an
// address with a port, or a bracketed IPv6 address.
func parseForwardedAddr(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
}

func isTrustedProxy(cfg *Config, a netip.Addr) bool {
	for _, p := range cfg.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
