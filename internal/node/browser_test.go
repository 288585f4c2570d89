package node

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vigilstream/vigil/internal/testenv"
)

// pageEnd is what the WHIP page recorded when its connection ended.
type pageEnd struct {
	How string  `json:"how"`
	At  float64 `json:"at"` // ms since the Unix epoch, the browser's clock
}

// A real browser publishes its camera (showing a listed image) over WHIP
// from a page on another origin: the block signal arrives and the page sees
// its connection end.
func TestBrowserWHIPKnownImageBlocked(t *testing.T) {
	img := testenv.WritePNG(t, "known.png", testenv.KnownImage(21, 640, 360))
	browser := testenv.StartBrowser(t, testenv.WriteY4M(t, img, "640x360"))
	page := testenv.ServeWHIPPage(t)
	h := startNode(t, knownList(t, img), append(loopbackICE, "--whip-tokens", "browser-token")...)
	blocks := h.blocks()

	ctx, cancel := context.WithTimeout(browser.Ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`whipPublish(`+strconv.Quote(h.whipURL("browser"))+`, "browser-token")`, chromedp.EvalAwaitPromise))
	if err != nil || res != "offered" {
		t.Fatalf("page: %q, %v", res, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.whip.state === "connected"`, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		states, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.whip.states`))
		t.Fatalf("page never connected (states %v): %v", states, err)
	}
	connected := time.Now()

	_, at := h.awaitBlock(blocks, "browser", "whip", 20*time.Second)
	t.Logf("block signal %s after the page connected", at.Sub(connected).Round(time.Millisecond))
	end, err := chromedp.Run(ctx, chromedp.Poll[pageEnd](`window.whip.ended`, chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("the page did not see its connection end: %v", err)
	}
	endedAt := time.UnixMilli(int64(end.At))
	t.Logf("page saw the end (%s) %s after the signal", end.How, endedAt.Sub(at).Round(time.Millisecond))
	if d := endedAt.Sub(at); d > 2*time.Second {
		t.Errorf("page saw the end %s after the signal, want within 2 s", d)
	}
	waitGone(t, h, "browser")
}
