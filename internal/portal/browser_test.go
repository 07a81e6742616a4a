package portal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatestream/gatestream/internal/testenv"
)

const chromiumPath = "/usr/bin/chromium"

// startChromium starts headless Chromium for the test (stopped at its end,
// 90 s at most) and returns its context, an action that saves a screenshot
// named name in dir, and a reader of an element's text.
func startChromium(t *testing.T, dir string) (context.Context, func(name string) chromedp.Action[chromedp.Void], func(sel chromedp.CSS) string) {
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, png, 0o644); err != nil {
				return chromedp.Void{}, err
			}
			t.Logf("screenshot: %s", path)
			return chromedp.Void{}, nil
		}
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return v
	}
	return ctx, shot, text
}

// screenshotDir is $GATESTREAM_SCREENSHOT_DIR, else a temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("GATESTREAM_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestChromiumSignInConnect drives headless Chromium through the whole path:
// sign-in at the identity provider (code flow with PKCE), the device list of
// user-a's namespaces only, Connect, the progress page, and the AppStream
// emulator's session page for the right device.
func TestChromiumSignInConnect(t *testing.T) {
	testenv.RequireChromium(t, chromiumPath)
	w := setup(t)
	p := startPortal(t, w, nil)
	dir := screenshotDir(t)

	ctx, shot, text := startChromium(t, dir)
	stepTimeout := func(d time.Duration) context.Context {
		c, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return c
	}
	location := func() string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	raspi := chromedp.ID("device-portal-team-a-line-a-raspi-1")

	oidcMu.Lock()
	w.oidc.QueueUser(mockUser("user-a"))
	err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("signin")),
	)
	signinURL := ""
	if err == nil {
		signinURL = location()
		err = chromedp.Do(ctx,
			shot("portal-1-signin.png"),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(raspi),
		)
	}
	oidcMu.Unlock()
	if err != nil {
		t.Fatalf("sign-in in Chromium: %v", err)
	}
	if !strings.Contains(signinURL, "/signin?") {
		t.Errorf("the first page was %s, want the sign-in page", signinURL)
	}

	body, user := text("main"), text("#user")
	if err := chromedp.Do(ctx, shot("portal-2-devices.png")); err != nil {
		t.Fatal(err)
	}
	if user != "user-a" || !strings.Contains(body, "raspi-1") || !strings.Contains(body, "plc-7") || strings.Contains(body, "robot-9") {
		t.Errorf("device list of %q:\n%s", user, body)
	}

	// The same page on a phone.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(raspi),
		shot("portal-3-devices-phone.png"),
		chromedp.EmulateViewport(1280, 900),
	); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := chromedp.Do(stepTimeout(20*time.Second),
		chromedp.Click(chromedp.CSS("#device-portal-team-a-line-a-raspi-1 button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("session-context")),
	); err != nil {
		where, _ := chromedp.Run(ctx, chromedp.Location())
		page, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("connect in Chromium: %v; the browser is at %s:\n%s", err, where, page)
	}
	took := time.Since(start)
	landed, sctx, streamUser, app := location(), text("#session-context"), text("#user"), text("#application")
	if err := chromedp.Do(ctx, shot("portal-4-streaming-session.png")); err != nil {
		t.Fatal(err)
	}
	t.Logf("Chromium connect latency (click to the streaming page): %s", took.Round(time.Millisecond))
	if want := sessionContext(t, nsA, "line-a", "raspi-1", "ssh"); !strings.HasPrefix(landed, w.cloud.AppStreamURL+"/streaming/") ||
		streamUser != "user-a" || app != "teraterm" || sctx != want {
		t.Errorf("landed on %s: user %q, application %q, context %q (want raspi-1's SSH port %s)", landed, streamUser, app, sctx, want)
	}

	// My sessions, then End.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/sessions"),
		chromedp.WaitVisible(chromedp.CSS("ul.sessions")),
	); err != nil {
		t.Fatal(err)
	}
	sessions := text("main")
	if err := chromedp.Do(ctx,
		shot("portal-5-my-sessions.png"),
		chromedp.Click(chromedp.CSS("li.session button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("h1")),
	); err != nil {
		t.Fatalf("ending the session in Chromium: %v", err)
	}
	if !strings.Contains(sessions, "raspi-1") || strings.Contains(sessions, "/streaming/") {
		t.Errorf("my sessions page:\n%s", sessions)
	}
	// The controller removes the session once it has ended its AppStream
	// session; My sessions, reloaded, then has none.
	testenv.Eventually(t, sessionWait, "My sessions empty in Chromium after End", func() error {
		if got := sessionsOf(t, nsA, "user-a"); len(got) != 0 {
			return fmt.Errorf("%d sessions left", len(got))
		}
		if _, err := chromedp.Run(ctx, chromedp.Navigate(p.URL+"/sessions")); err != nil {
			return err
		}
		if body := text("main"); !strings.Contains(body, "You have no sessions") {
			return fmt.Errorf("my sessions page:\n%s", body)
		}
		return nil
	})

	// Sign out with the button; the session cookie from before, set again in
	// the browser, does not show the device list: the sign-out is recorded
	// on the server, not only by deleting the browser's cookie.
	cookies, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{p.URL + "/"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	old := ""
	for _, c := range cookies.Cookies {
		if c.Name == sessionCookie {
			old = c.Value
		}
	}
	if old == "" {
		t.Fatalf("no session cookie in Chromium: %+v", cookies.Cookies)
	}
	if err := chromedp.Do(stepTimeout(20*time.Second),
		chromedp.Navigate(p.URL+"/"),
		chromedp.WaitVisible(raspi),
		chromedp.Click(chromedp.CSS(`form[action="/signout"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("signin")),
		shot("portal-6-signed-out.png"),
	); err != nil {
		t.Fatalf("signing out in Chromium: %v", err)
	}
	if err := chromedp.Do(stepTimeout(20*time.Second),
		func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			httpOnly := true
			_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: sessionCookie, Value: old, URL: p.URL + "/", Path: "/", HTTPOnly: &httpOnly})
			return chromedp.Void{}, err
		},
		chromedp.Navigate(p.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("signin")),
	); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("the old cookie after sign-out in Chromium: %v\n%s", err, page)
	}
	if where, body := location(), text("main"); !strings.Contains(where, "/signin?") || strings.Contains(body, "raspi-1") {
		t.Errorf("the old cookie after sign-out: at %s\n%s", where, body)
	}
}
