package testenv

import (
	"context"
	_ "embed"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium returns the path of Debian's chromium (`make test` installs
// it). Without it the test fails when CI=true and is skipped otherwise.
func Chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if InCI() {
		tb.Fatal("chromium not found; make test installs it (Debian package chromium)")
	}
	tb.Skip("chromium not found; make test installs it (Debian package chromium)")
	return ""
}

// WriteY4M writes image as a short Y4M clip of size (e.g. "640x360"), the
// format Chromium's fake camera plays in a loop.
func WriteY4M(tb testing.TB, image, size string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "camera.y4m")
	RunFFmpeg(tb, "-loop", "1", "-framerate", "30", "-i", image, "-frames:v", "15",
		"-vf", "scale="+strings.Replace(size, "x", ":", 1)+",format=yuv420p", "-f", "yuv4mpegpipe", out)
	return out
}

// Browser is a headless Chromium whose camera shows a Y4M clip, driven
// over the DevTools protocol.
type Browser struct {
	// Ctx runs chromedp actions in the browser's one tab.
	Ctx context.Context
}

// StartBrowser launches headless Chromium with a fake camera playing y4m,
// a fresh profile and loopback-only WebRTC (host candidates on 127.0.0.1,
// not hidden behind mDNS names). The test's cleanup closes it.
func StartBrowser(tb testing.TB, y4m string) *Browser {
	tb.Helper()
	path := Chromium(tb)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", y4m),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(tb.Logf))
	// The first Run starts the browser; its context must outlive the test.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		tb.Fatalf("starting chromium: %v", err)
	}
	tb.Cleanup(func() {
		_ = chromedp.Cancel(ctx)
		cancel()
		cancelAlloc()
	})
	return &Browser{Ctx: ctx}
}

//go:embed whip.html
var whipPage string

// ServeWHIPPage serves, on 127.0.0.1, a page whose whipPublish(endpoint,
// token) publishes the camera over WHIP and records in window.whip the
// connection's progress: state, the states seen, and ended (how and
// when the connection ended). It returns the page's URL.
func ServeWHIPPage(tb testing.TB) string {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(whipPage))
	}))
	tb.Cleanup(srv.Close)
	return srv.URL + "/"
}
