package webrtc

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/internal/testenv"
)

// audioOnlyOffer is a valid offer that sends no video.
func audioOnlyOffer(t *testing.T) string {
	t.Helper()
	pc, err := testenv.LoopbackAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeAudio, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// Every kind of bad request gets its own clear status and reason, and
// leaves nothing behind.
func TestWHIPBadRequests(t *testing.T) {
	tokens, err := ParseTokens("global-secret,cam=cam-secret")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig
	cfg.Tokens, cfg.MaxBodyBytes = tokens, 16<<10
	r := newRig(t, cfg, DefaultClientConfig)
	offer := deadOffer(t)

	// A live session to aim DELETE and PATCH at, and to collide with.
	_, live, err := testenv.PostSDP(r.endpoint("cam"), "cam-secret", offer)
	if err != nil {
		t.Fatal(err)
	}
	liveBase := strings.TrimPrefix(live, r.http.URL)

	huge := offer + strings.Repeat("a=x-padding:"+strings.Repeat("x", 100)+"\r\n", 200)
	tests := []struct {
		name, method, path, ctype, token, body string
		chunked                                bool
		want                                   int
		reason                                 string
	}{
		{"wrong content type", "POST", "/whip/a", "text/plain", "global-secret", offer, false, 415, "application/sdp"},
		{"no content type", "POST", "/whip/a", "", "global-secret", offer, false, 415, "application/sdp"},
		{"garbage SDP", "POST", "/whip/a", "application/sdp", "global-secret", "\x00\xffnot an sdp at all\r\n", false, 400, "bad SDP offer"},
		{"empty SDP", "POST", "/whip/a", "application/sdp", "global-secret", "", false, 400, "bad SDP offer"},
		{"SDP without video", "POST", "/whip/a", "application/sdp", "global-secret", audioOnlyOffer(t), false, 400, "no usable video"},
		{"oversized body", "POST", "/whip/a", "application/sdp", "global-secret", huge, false, 413, "at most"},
		{"oversized chunked body", "POST", "/whip/a", "application/sdp", "global-secret", huge, true, 413, "over"},
		{"no token", "POST", "/whip/a", "application/sdp", "", offer, false, 401, "bearer token"},
		{"wrong token", "POST", "/whip/a", "application/sdp", "nope", offer, false, 401, "bearer token"},
		{"another stream's token", "POST", "/whip/other", "application/sdp", "cam-secret", offer, false, 401, "bearer token"},
		{"stream already live", "POST", "/whip/cam", "application/sdp", "global-secret", offer, false, 409, "already live"},
		{"unknown session", "DELETE", "/whip/cam/0123456789abcdef0123456789abcdef", "", "cam-secret", "", false, 404, "no such"},
		{"session of another stream", "DELETE", strings.Replace(liveBase, "/cam/", "/a/", 1), "", "global-secret", "", false, 404, "no such"},
		{"delete with wrong token", "DELETE", liveBase, "", "nope", "", false, 401, "bearer token"},
		{"trickle ICE", "PATCH", liveBase, "application/trickle-ice-sdpfrag", "cam-secret", "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", false, 405, "not supported"},
		{"patch unknown session", "PATCH", "/whip/cam/nope", "application/trickle-ice-sdpfrag", "cam-secret", "", false, 404, "no such"},
		{"GET", "GET", "/whip/a", "", "global-secret", "", false, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, _ := http.NewRequest(tt.method, r.http.URL+tt.path, body)
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s: %s %q, want %d", tt.name, resp.Status, msg, tt.want)
			}
			if !strings.Contains(string(msg), tt.reason) {
				t.Errorf("reason %q does not say %q", msg, tt.reason)
			}
			if tt.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && tt.want != 405 {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
		})
	}
	if n := r.srv.Sessions(); n != 1 {
		t.Errorf("%d sessions after the bad requests, want only the live one", n)
	}

	t.Run("CORS preflight", func(t *testing.T) {
		for _, path := range []string{"/whip/a", liveBase} {
			req, _ := http.NewRequest(http.MethodOptions, r.http.URL+path, nil)
			req.Header.Set("Origin", "http://example.test")
			req.Header.Set("Access-Control-Request-Method", "POST")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), "DELETE") ||
				!strings.Contains(h.Get("Access-Control-Expose-Headers"), "Location") {
				t.Errorf("OPTIONS %s: %s %v", path, resp.Status, h)
			}
		}
	})
}

// heapLive is the bytes of live heap objects after a full collection.
func heapLive() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A thousand offers whose ICE never completes each get a session that
// times out and is freed: goroutines and memory return to where they were,
// and a stream publishing alongside is untouched.
func TestWHIPAbandonedSetups(t *testing.T) {
	const n, workers = 1000, 16
	cfg := DefaultConfig
	cfg.SetupTimeout, cfg.MaxPending = 2*time.Second, n
	// t.Log keeps every line in memory: the log would count as a leak.
	r := newRigLog(t, cfg, DefaultClientConfig, io.Discard)
	frames := clip(t, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: 2 * time.Second})
	good, err := testenv.PublishWHIP(t, r.endpoint("good"), frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	d := r.stats("good", 10*time.Second)
	waitFor(t, 10*time.Second, "good stream decoding", func() bool { return d.stats.Decoded.Load() > 10 })
	offer := deadOffer(t)
	// Warm up pools and lazily started goroutines before the baseline.
	if _, _, err := testenv.PostSDP(r.endpoint("warm"), "", offer); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "warm-up session freed", func() bool { return r.srv.Sessions() == 1 })
	baseG, baseHeap := runtime.NumGoroutine(), heapLive()

	var created atomic.Int32
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				_, _, err := testenv.PostSDP(r.endpoint("abandoned-"+itoa(i)), "", offer)
				if err != nil {
					t.Errorf("POST %d: %v", i, err)
					continue
				}
				created.Add(1)
			}
		})
	}
	start := time.Now()
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Logf("%d sessions created in %s; peak %d sessions, %d goroutines", created.Load(), time.Since(start).Round(time.Millisecond), r.srv.Sessions(), runtime.NumGoroutine())
	if created.Load() != n {
		t.Fatalf("%d of %d offers answered", created.Load(), n)
	}
	waitFor(t, 30*time.Second, "abandoned sessions freed", func() bool { return r.srv.Sessions() == 1 && r.srv.Pending() == 0 })
	if r.reg.Len() != 1 {
		t.Fatalf("%d streams registered, want the good one", r.reg.Len())
	}
	decodedBefore := d.stats.Decoded.Load()
	waitFor(t, 10*time.Second, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseG+5 })
	heap := heapLive()
	t.Logf("goroutines %d (baseline %d), live heap %d KiB (baseline %d KiB)", runtime.NumGoroutine(), baseG, heap>>10, baseHeap>>10)
	if heap > baseHeap+16<<20 {
		t.Errorf("live heap %d KiB, baseline %d KiB: the sessions were not freed", heap>>10, baseHeap>>10)
	}
	select {
	case <-good.Ended():
		t.Fatal("the good stream ended")
	default:
	}
	waitFor(t, 5*time.Second, "good stream still decoding", func() bool { return d.stats.Decoded.Load() > decodedBefore+10 })
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}
