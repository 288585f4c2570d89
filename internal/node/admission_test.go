package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/nats-io/nats.go"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/testenv"
)

// rtmpAttempt runs an RTMP handshake and publish command, as a publisher
// does before sending media, and returns the server's refusal if any.
func rtmpAttempt(t *testing.T, h *harness, path string) error {
	t.Helper()
	u, _ := url.Parse(fmt.Sprintf("rtmp://%s/%s", h.node.RTMPAddr(), path))
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.Initialize(ctx)
	if err == nil {
		c.Close()
	}
	return err
}

func TestStaticStreamKeys(t *testing.T) {
	h := startNode(t, "", "--auth", "static", "--stream-keys", "cam=secret-1,*=global-2")
	wrong := testenv.Publish(t, h.rtmpURL("cam?key=nope"), testenv.PublishOptions{Duration: 5 * time.Second})
	if !wrong.WaitExit(context.Background(), 10*time.Second) {
		t.Fatal("publisher with a wrong key still connected")
	}
	if _, err := wrong.Exit(); err == nil {
		t.Error("refused publisher exited cleanly")
	}
	if !h.log.WaitFor("no matching stream key for cam", time.Second) {
		t.Error("refusal reason not logged")
	}
	// Refused before any media was read.
	if v := h.metric(`vigil_frames_total{stage="received"}`); v != 0 {
		t.Errorf("%v access units read from a refused publisher", v)
	}
	if v := h.metric(`vigil_admissions_total{protocol="rtmp",reason="credentials",result="refused"}`); v != 1 {
		t.Errorf("refusals counted %v", v)
	}

	right := testenv.Publish(t, h.rtmpURL("cam?key=secret-1"), testenv.PublishOptions{})
	st := h.waitStream("cam", 10*time.Second)
	if st.KeyHash == "" || st.KeyHash == "secret-1" {
		t.Errorf("key hash %q", st.KeyHash)
	}
	// A wildcard key, given as ?token=, for any other name.
	testenv.Publish(t, h.rtmpURL("other?token=global-2"), testenv.PublishOptions{})
	h.waitStream("other", 10*time.Second)
	// OBS puts the key in the path: a name that is itself a key.
	if err := rtmpAttempt(t, h, "live/global-2"); err != nil {
		t.Errorf("key as stream name: %v", err)
	}
	if !right.Running() {
		t.Fatal("admitted publisher ended")
	}
}

// The http method asks the platform; answers are cached briefly, silence
// follows the fail-open/fail-closed choice, and a slow answer does not hold
// up anybody else's admission.
func TestHTTPAuth(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var q authQuestion
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil || q.Protocol != "rtmp" || q.Node != "test-node" {
			http.Error(w, "bad question", http.StatusBadRequest)
			return
		}
		switch q.Key {
		case "good":
			w.WriteHeader(http.StatusNoContent)
		case "slow":
			time.Sleep(1500 * time.Millisecond)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"reason":"banned publisher"}`))
		}
	}))
	defer srv.Close()
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail-open=%v", failOpen), func(t *testing.T) {
			calls.Store(0)
			h := startNode(t, "", "--auth", "http", "--auth-url", srv.URL, "--auth-timeout", "500ms", fmt.Sprintf("--auth-fail-open=%v", failOpen))
			admit := func(name, key string) error {
				return h.node.reg.Admit(context.Background(), ingest.Request{Protocol: "rtmp", Name: name, Key: key, Remote: "127.0.0.1:5000"})
			}
			if err := admit("a", "good"); err != nil {
				t.Fatalf("good key: %v", err)
			}
			if err := admit("a", "good"); err != nil || calls.Load() != 1 {
				t.Fatalf("cached answer: %v, %d calls", err, calls.Load())
			}
			if err := admit("b", "bad"); !errors.Is(err, ingest.ErrRefused) || !errorContains(err, "banned publisher") {
				t.Fatalf("bad key: %v", err)
			}
			slow := make(chan error, 1)
			go func() { slow <- admit("c", "slow") }()
			start := time.Now()
			if err := admit("d", "good"); err != nil || time.Since(start) > 400*time.Millisecond {
				t.Fatalf("admission beside a slow one: %v after %s", err, time.Since(start))
			}
			err := <-slow
			if failOpen && err != nil {
				t.Fatalf("fail-open refused on timeout: %v", err)
			}
			if !failOpen && (!errors.Is(err, errAuthUnavailable) || !errors.Is(err, ingest.ErrRefused)) {
				t.Fatalf("fail-closed admitted or gave %v on timeout", err)
			}
		})
	}
}

func errorContains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

// The nats method asks a responder on vigil.auth.publish.
func TestNATSAuth(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail-open=%v", failOpen), func(t *testing.T) {
			h := startNode(t, "", "--auth", "nats", "--auth-timeout", "500ms", "--auth-cache", "0s", fmt.Sprintf("--auth-fail-open=%v", failOpen))
			admit := func(key string) error {
				return h.node.reg.Admit(context.Background(), ingest.Request{Protocol: "rtmp", Name: "s", Key: key, Remote: "127.0.0.1:5000"})
			}
			// Nobody answers yet.
			if err := admit("good"); failOpen != (err == nil) {
				t.Fatalf("no responder: %v", err)
			}
			sub, err := h.nc.Subscribe(SubjectAuth, func(m *nats.Msg) {
				var q authQuestion
				_ = json.Unmarshal(m.Data, &q)
				switch q.Key {
				case "good":
					_ = m.Respond([]byte(`{"allow":true}`))
				case "slow":
					go func() {
						time.Sleep(1500 * time.Millisecond)
						_ = m.Respond([]byte(`{"allow":true}`))
					}()
				default:
					_ = m.Respond([]byte(`{"allow":false,"reason":"unknown key"}`))
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			_ = h.nc.Flush()
			if err := admit("good"); err != nil {
				t.Fatalf("good key: %v", err)
			}
			if err := admit("bad"); !errorContains(err, "unknown key") {
				t.Fatalf("bad key: %v", err)
			}
			slow := make(chan error, 1)
			go func() { slow <- admit("slow") }()
			start := time.Now()
			if err := admit("good"); err != nil || time.Since(start) > 400*time.Millisecond {
				t.Fatalf("admission beside a slow one: %v after %s", err, time.Since(start))
			}
			if err := <-slow; failOpen != (err == nil) {
				t.Fatalf("slow responder: %v", err)
			}
		})
	}
}

// With max-streams 2 the third publisher is refused, and admitted again
// once one of the two ends.
func TestCapacity(t *testing.T) {
	h := startNode(t, "", "--max-streams", "2")
	a := testenv.Publish(t, h.rtmpURL("a"), testenv.PublishOptions{})
	testenv.Publish(t, h.rtmpURL("b"), testenv.PublishOptions{})
	h.waitStream("a", 10*time.Second)
	h.waitStream("b", 10*time.Second)
	if err := rtmpAttempt(t, h, "live/c"); err == nil {
		t.Fatal("third publisher admitted on a full node")
	}
	if !h.log.WaitFor("2 of 2 streams live", time.Second) {
		t.Error("no capacity reason logged")
	}
	a.Kill()
	waitGone(t, h, "a")
	if err := rtmpAttempt(t, h, "live/c"); err != nil {
		t.Fatalf("publisher refused after a slot freed: %v", err)
	}
}

// A flood of bad keys from one address is refused, then rate-limited, and
// leaves no goroutines or memory behind.
func TestBadKeyFlood(t *testing.T) {
	h := startNode(t, "", "--auth", "static", "--stream-keys", "*=right", "--connect-rate", "60")
	runtime.GC()
	baseG := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 200 {
		if err := rtmpAttempt(t, h, fmt.Sprintf("live/s%d?key=wrong", i)); err == nil {
			t.Fatalf("attempt %d admitted", i)
		}
	}
	if v := h.metric(`vigil_admissions_total{protocol="rtmp",reason="rate",result="refused"}`); v < 100 {
		t.Errorf("%v attempts rate-limited, want the ones past 60", v)
	}
	if v := h.metric(`vigil_admissions_total{protocol="rtmp",reason="credentials",result="refused"}`); v < 50 || v > 60 {
		t.Errorf("%v attempts refused for the key", v)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseG+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > baseG+2 {
		t.Errorf("goroutines %d after the flood, %d before", g, baseG)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 8<<20 {
		t.Errorf("heap grew %d KiB", grow>>10)
	}
}

// With takeover allowed a second publisher replaces the first.
func TestTakeover(t *testing.T) {
	h := startNode(t, "", "--allow-takeover")
	first := testenv.Publish(t, h.rtmpURL("cam"), testenv.PublishOptions{})
	old := h.waitStream("cam", 10*time.Second)
	testenv.Publish(t, h.rtmpURL("cam"), testenv.PublishOptions{})
	if !first.WaitExit(context.Background(), 10*time.Second) {
		t.Fatal("first publisher not ended by the takeover")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st := h.node.reg.Get("cam"); st != nil && st != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second publisher not live")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A stream over the bitrate limit is ended with that reason.
func TestBitrateLimit(t *testing.T) {
	h := startNode(t, "", "--max-bitrate", "20000")
	p := testenv.Publish(t, h.rtmpURL("fat"), testenv.PublishOptions{})
	if !p.WaitExit(context.Background(), 15*time.Second) {
		t.Fatal("publisher over the bitrate limit still connected")
	}
	if !h.log.WaitFor("bitrate over the limit", 2*time.Second) {
		t.Fatal("no bitrate reason logged")
	}
}
