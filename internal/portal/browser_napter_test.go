package portal

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatestream/gatestream/internal/testenv"
)

// TestChromiumNapterConnect drives headless Chromium through Connect via
// Napter: user-n signs in, clicks "Connect via Napter" for pi-1 (ssh), and
// sees the progress page; the real StreamingSession controller makes the
// port mapping in the SORACOM emulator, open to the session's source range;
// the browser then shows the endpoint page with the ssh command, and
// connects to the endpoint (the emulator's Napter listener on 127.0.0.1,
// whose walk starts at the browser's address) and reaches pi-1. The
// emulator's walk also proves that another address is refused.
func TestChromiumNapterConnect(t *testing.T) {
	testenv.RequireChromium(t, chromiumPath)
	w := setup(t)
	p := startPortal(t, w, nil)
	dir := screenshotDir(t)

	ctx, shot, text := startChromium(t, dir)
	fatal := func(what string, err error) {
		t.Helper()
		where, _ := chromedp.Run(ctx, chromedp.Location())
		page, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("%s in Chromium: %v; the browser is at %s:\n%s", what, err, where, page)
	}
	napterButton := chromedp.ID("napter-portal-team-n-field-pi-1")

	oidcMu.Lock()
	w.oidc.QueueUser(mockUser("user-n"))
	err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(napterButton),
	)
	oidcMu.Unlock()
	if err != nil {
		fatal("sign-in", err)
	}
	if err := chromedp.Do(ctx,
		shot("portal-napter-1-devices.png"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(napterButton),
		shot("portal-napter-2-devices-phone.png"),
		chromedp.EmulateViewport(1280, 900),
	); err != nil {
		t.Fatal(err)
	}
	if body := text("#device-portal-team-n-field-cam-3"); !strings.Contains(body, "routerPort") {
		t.Errorf("cam-3 does not say why Napter is unavailable:\n%s", body)
	}

	// The progress page, then (the controller maps the port in moments) the endpoint page.
	if err := chromedp.Do(ctx, chromedp.Click(napterButton)); err != nil {
		fatal("Connect via Napter", err)
	}
	ss := oneSession(t, nsN, "user-n")
	if got := ss.Spec.Napter.SourceRanges; len(got) != 1 || got[0] != "127.0.0.1/32" || ss.Spec.Target.Port.String() != "ssh" {
		t.Fatalf("the session the portal created: napter %+v, target %+v", ss.Spec.Napter, ss.Spec.Target)
	}
	ep := napterReady(t, ss)

	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("ssh-command"))); err != nil {
		fatal("waiting for the endpoint page", err)
	}
	if err := chromedp.Do(ctx, shot("portal-napter-3-endpoint.png")); err != nil {
		t.Fatal(err)
	}
	host, port, cmd, ranges := text("#host"), text("#port"), text("#ssh-command"), text("#source-ranges")
	if host != ep.Host || port != strconv.Itoa(ep.Port) || cmd != "ssh -p "+port+" <user>@"+host || ranges != "127.0.0.1/32" {
		t.Errorf("endpoint page: host %q port %q command %q open to %q; the mapping is %+v", host, port, cmd, ranges, ep)
	}
	// The endpoint takes the browser's address and refuses any other.
	if r := w.cloud.ReachNapter(netip.MustParseAddr("127.0.0.1"), host, ep.Port); !r.Reachable {
		t.Errorf("the browser's address cannot reach the endpoint: %s", r)
	}
	if r := w.cloud.ReachNapter(netip.MustParseAddr("192.0.2.50"), host, ep.Port); r.Reachable {
		t.Errorf("another address reaches the endpoint: %s", r)
	}

	// The browser connects to the endpoint itself: the emulator's Napter
	// listener lets it through (its walk starts at the browser's address)
	// and answers with a page naming the device it reached.
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+net.JoinHostPort(host, port)+"/"),
		chromedp.WaitVisible(chromedp.ID("napter-device")),
		shot("portal-napter-4-connected.png"),
	); err != nil {
		fatal("connecting to the Napter endpoint", err)
	}
	if dev := text("#napter-device"); dev != "pi-1" {
		t.Errorf("the endpoint led to %q, want pi-1", dev)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/sessions"),
		chromedp.WaitVisible(chromedp.CSS("ul.sessions")),
		shot("portal-napter-5-my-sessions.png"),
	); err != nil {
		t.Fatal(err)
	}
	if body := text("main"); !strings.Contains(body, "Napter · port ssh") || !strings.Contains(body, "pi-1") {
		t.Errorf("my sessions page:\n%s", body)
	}
}
