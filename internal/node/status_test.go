package node

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/vigilstream/vigil/internal/testenv"
)

// chromium returns Debian's Chromium; `make test` installs it. Without it
// the test fails in CI and is skipped elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not installed (make test installs it)")
	}
	t.Skip("chromium not installed")
	return ""
}

// The status page, rendered by a real browser, shows the live stream's row
// and its chart, and is not a blank page.
func TestStatusPageInBrowser(t *testing.T) {
	exe := chromium(t)
	h := startNode(t, "", "--admin-token", adminToken)
	testenv.Publish(t, h.rtmpURL("studio-1"), testenv.PublishOptions{})
	st := h.waitStream("studio-1", 10*time.Second)
	for deadline := time.Now().Add(10 * time.Second); st.Stats.Sampled.Load() < 2; {
		if time.Now().After(deadline) {
			t.Fatal("no samples")
		}
		time.Sleep(50 * time.Millisecond)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 600),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + adminToken},
	}); err != nil {
		t.Fatal(err)
	}
	const rowSel = `tr.stream[data-id="studio-1"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+h.node.HTTPAddr().String()+"/"),
		chromedp.WaitVisible(chromedp.CSS(rowSel+` svg.chart`)),
	); err != nil {
		t.Fatal(err)
	}
	row, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(rowSel)))
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "test-node") || !strings.Contains(row, "studio-1") || !strings.Contains(row, "rtmp") || !strings.Contains(row, "640×360") {
		t.Fatalf("title %q, row %q", title, row)
	}
	if p := os.Getenv("VIGIL_SCREENSHOT"); p != "" {
		_ = os.WriteFile(p, shot, 0o600) // for a human to look at
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	colours := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if len(colours) < 8 {
		t.Fatalf("screenshot has %d colours: blank", len(colours))
	}
	t.Logf("screenshot %dx%d, %d colours", b.Dx(), b.Dy(), len(colours))
}
