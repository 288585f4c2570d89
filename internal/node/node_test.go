package node

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/internal/testenv"
	"github.com/vigilstream/vigil/sampler"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	sampler.SilenceFFmpegLogs()
	goleak.VerifyTestMain(m, testenv.LeakOptions()...)
}

type harness struct {
	t    *testing.T
	node *Node
	nc   *nats.Conn
	log  *testenv.LogBuffer
	stop func() // stops the node and waits for Run to return
}

// startNode runs a node on free loopback ports with an embedded NATS server
// and connects a plain NATS client to it, as an enforcement service would.
func startNode(t *testing.T, index string, extra ...string) *harness {
	t.Helper()
	return runNode(t, nodeOpts{index: index, args: extra})
}

func (h *harness) rtmpURL(name string) string {
	return fmt.Sprintf("rtmp://%s/live/%s", h.node.RTMPAddr(), name)
}

// blocks subscribes to every block signal with a plain NATS subscription.
func (h *harness) blocks() <-chan *nats.Msg {
	ch := make(chan *nats.Msg, 16)
	sub, err := h.nc.ChanSubscribe("vigil.block.>", ch)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
	return ch
}

// waitStream waits until the registry holds stream id.
func (h *harness) waitStream(id string, timeout time.Duration) *ingest.Stream {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s := h.node.Registry().Get(id); s != nil {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("stream %s not live within %s", id, timeout)
	return nil
}

// knownList writes a hash list holding the PDQ hash of img and returns its
// path; with phash set it holds the pHash instead.
func knownList(t *testing.T, img string, phash ...bool) string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := decodePNG(f)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := detector.NewPDQHasher().HashImage(src)
	if len(phash) > 0 && phash[0] {
		h, _, err = detector.PHashImage(src)
	}
	if err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(t.TempDir(), "known.txt")
	if err := os.WriteFile(list, []byte("# benign stand-in\n"+h.String()+",test-known-image\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return list
}

// The slice end to end: a stream that shows a listed image from t=4 s is
// blocked by a schema-valid signal within 3 s and its publisher is cut
// within 1 s of the signal; a stream beside it showing 20 s of benign
// content is untouched and never signalled.
func TestRTMPKnownImageBlocked(t *testing.T) {
	img := testenv.WritePNG(t, "known.png", testenv.KnownImage(1, 640, 360))
	h := startNode(t, knownList(t, img))
	blocks := h.blocks()

	const name = "a.b*>" // unsafe in NATS subjects: must arrive escaped
	benign := testenv.Publish(t, h.rtmpURL("benign"), testenv.PublishOptions{Duration: 20 * time.Second})
	known := testenv.Publish(t, h.rtmpURL(name), testenv.PublishOptions{Image: img, ImageAt: 4 * time.Second})
	imageShown := known.Started.Add(4 * time.Second)

	var msg *nats.Msg
	select {
	case msg = <-blocks:
	case <-time.After(15 * time.Second):
		t.Fatalf("no block signal within 15 s; ffmpeg: %s", stderrIfDone(known))
	}
	received := time.Now()
	id, _ := ingest.StreamID(name)
	if msg.Subject != "vigil.block."+id {
		t.Fatalf("signal on %q, want vigil.block.%s", msg.Subject, id)
	}
	if err := signal.ValidateBlock(msg.Data); err != nil {
		t.Fatalf("signal fails the schema: %v\n%s", err, msg.Data)
	}
	ev, err := signal.ParseBlock(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data.Reason != "match" || ev.Data.Stream.Name != name || ev.Data.Stream.Node != "test-node" ||
		len(ev.Data.Matches) < 2 || ev.Data.Matches[0].Label != "test-known-image" || ev.Data.Policy.MinMatches != 2 {
		t.Fatalf("unexpected signal: %s", msg.Data)
	}
	for _, m := range ev.Data.Matches {
		if m.StreamTime < 3.9 {
			t.Errorf("match at stream time %.2f s, before the image was shown", m.StreamTime)
		}
	}
	if lat := received.Sub(imageShown); lat > 3*time.Second {
		t.Errorf("signal %s after the image appeared, want within 3 s", lat)
	} else {
		t.Logf("signal %s after the image appeared", lat.Round(time.Millisecond))
	}
	if msg.Header.Get("Nats-Msg-Id") != ev.ID {
		t.Errorf("Nats-Msg-Id %q, want the event id %q", msg.Header.Get("Nats-Msg-Id"), ev.ID)
	}

	if !known.WaitExit(context.Background(), 2*time.Second) {
		t.Fatal("publisher still running 2 s after the block signal")
	}
	exited, err := known.Exit()
	if err == nil {
		t.Errorf("publisher exited cleanly; want a connection error")
	}
	if d := exited.Sub(received); d > time.Second {
		t.Errorf("publisher ended %s after the signal, want within 1 s", d)
	} else {
		t.Logf("publisher ended %s after the signal", d.Round(time.Millisecond))
	}

	// The benign stream runs to its natural end without a signal.
	if !benign.Running() {
		t.Fatalf("benign publisher ended early: %s", benign.Stderr())
	}
	select {
	case m := <-blocks:
		t.Fatalf("second signal %s: %s", m.Subject, m.Data)
	case <-benign.Done():
	}
	if _, err := benign.Exit(); err != nil {
		t.Fatalf("benign publisher failed: %v: %s", err, benign.Stderr())
	}
	select {
	case m := <-blocks:
		t.Fatalf("benign stream signalled: %s", m.Data)
	case <-time.After(500 * time.Millisecond):
	}

	// The metrics tell the same story.
	for name, want := range map[string]float64{
		"vigil_verdicts_total":                           1,
		"vigil_signals_published_total":                  1,
		`vigil_signals_received_total{result="applied"}`: 1,
		"vigil_verdict_to_end_seconds_count":             1,
		`vigil_streams_active{protocol="rtmp"}`:          0,
	} {
		if got := h.metric(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := h.metric("vigil_matches_total"); got < 2 {
		t.Errorf("vigil_matches_total = %v, want at least 2", got)
	}
	if got := h.metric(`vigil_frames_total{stage="sampled"}`); got < 10 {
		t.Errorf("sampled frames = %v over two streams", got)
	}
}

// A block published by someone else (an enforcement service, a moderator)
// ends a live stream the same way the node's own verdicts do.
func TestManualBlockEndsStream(t *testing.T) {
	h := startNode(t, knownList(t, testenv.WritePNG(t, "k.png", testenv.KnownImage(2, 64, 64)), true))
	p := testenv.Publish(t, h.rtmpURL("cam1"), testenv.PublishOptions{})
	st := h.waitStream("cam1", 10*time.Second)

	ev := signal.NewBlockEvent("test://moderator", signal.Block{
		Stream: signal.StreamRef{ID: "cam1"}, Reason: signal.ReasonManual, Note: "reported by a viewer",
	})
	raw, _ := jsonMarshal(ev)
	sent := time.Now()
	if err := h.nc.Publish(signal.BlockSubject("cam1"), raw); err != nil {
		t.Fatal(err)
	}
	if !p.WaitExit(context.Background(), 5*time.Second) {
		t.Fatal("publisher not cut within 5 s of a manual block")
	}
	exited, _ := p.Exit()
	t.Logf("publisher ended %s after the manual block", exited.Sub(sent).Round(time.Millisecond))
	if d := exited.Sub(sent); d > time.Second {
		t.Errorf("publisher ended %s after the signal, want well under 1 s", d)
	}
	<-st.Context().Done()
	if cause := context.Cause(st.Context()); !strings.Contains(fmt.Sprint(cause), "manual") {
		t.Errorf("stream ended with %v, want the manual block", cause)
	}
}

// Bad input costs the offender its connection and nothing else.
func TestBadInputKeepsNodeServing(t *testing.T) {
	h := startNode(t, knownList(t, testenv.WritePNG(t, "k.png", testenv.KnownImage(3, 64, 64)), true))
	good := testenv.Publish(t, h.rtmpURL("good"), testenv.PublishOptions{})
	h.waitStream("good", 10*time.Second)

	t.Run("garbage bytes", func(t *testing.T) {
		c, err := net.Dial("tcp", h.node.RTMPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte(strings.Repeat("GET / HTTP/1.1\r\n\r\n garbage \x00\xff", 200)))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("node kept a garbage connection open")
			}
		}
	})
	t.Run("non-H.264 video", func(t *testing.T) {
		p := testenv.Publish(t, h.rtmpURL("sorenson"), testenv.PublishOptions{Codec: "flv", Duration: 10 * time.Second})
		if !p.WaitExit(context.Background(), 10*time.Second) {
			t.Fatal("non-H.264 publisher still connected after 10 s")
		}
		if !h.log.WaitFor("H.264", 2*time.Second) {
			t.Errorf("no log line naming the codec problem")
		}
	})
	t.Run("second publisher on a live name", func(t *testing.T) {
		p := testenv.Publish(t, h.rtmpURL("good"), testenv.PublishOptions{})
		if !p.WaitExit(context.Background(), 10*time.Second) {
			t.Fatal("hijacking publisher still connected")
		}
		if _, err := p.Exit(); err == nil {
			t.Error("hijacking publisher exited cleanly")
		}
		// Refusals are logged at most once a second (the garbage
		// connection's may have taken this second's line); the count is
		// exact.
		if v := h.metric(`vigil_admissions_total{protocol="rtmp",reason="name_in_use",result="refused"}`); v != 1 {
			t.Errorf("name-in-use refusals counted %v, want 1", v)
		}
	})
	t.Run("publisher killed mid-GOP", func(t *testing.T) {
		p := testenv.Publish(t, h.rtmpURL("flaky"), testenv.PublishOptions{})
		h.waitStream("flaky", 10*time.Second)
		time.Sleep(2500 * time.Millisecond) // into the second GOP
		p.Kill()
		deadline := time.Now().Add(5 * time.Second)
		for h.node.Registry().Get("flaky") != nil {
			if time.Now().After(deadline) {
				t.Fatal("killed publisher's stream still registered after 5 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		again := testenv.Publish(t, h.rtmpURL("flaky"), testenv.PublishOptions{Duration: 3 * time.Second})
		h.waitStream("flaky", 10*time.Second)
		again.Kill()
	})

	if !good.Running() {
		t.Fatalf("the well-behaved stream ended: %s", good.Stderr())
	}
	st := h.node.Registry().Get("good")
	if st == nil || st.Stats.Sampled.Load() == 0 {
		t.Fatal("the well-behaved stream is not being sampled")
	}
	resp, err := http.Get("http://" + h.node.HTTPAddr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
}

func stderrIfDone(p *testenv.Publisher) string {
	if p.Running() {
		return "(still running)"
	}
	return p.Stderr()
}

// A stream over the pixel limit is ended with that reason.
func TestPixelLimitEndsStream(t *testing.T) {
	h := startNode(t, "", "--max-pixels", "100000")
	p := testenv.Publish(t, h.rtmpURL("big"), testenv.PublishOptions{})
	if !p.WaitExit(context.Background(), 15*time.Second) {
		t.Fatal("publisher over the pixel limit still connected")
	}
	if !h.log.WaitFor("over 100000 pixels", 2*time.Second) {
		t.Fatal("no reason naming the pixel limit in the log")
	}
}
