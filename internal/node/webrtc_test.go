package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/internal/testenv"
	"github.com/vigilstream/vigil/sampler"
)

// loopbackICE keeps the node's ICE candidates on 127.0.0.1.
var loopbackICE = []string{"--webrtc-ips", "127.0.0.1"}

func (h *harness) whipURL(name string) string {
	return "http://" + h.node.HTTPAddr().String() + "/whip/" + name
}

// awaitBlock waits for one block signal, checks it against the schema and
// that it names stream name over protocol, and returns it with the time it
// arrived.
func (h *harness) awaitBlock(blocks <-chan *nats.Msg, name, protocol string, timeout time.Duration) (signal.Event, time.Time) {
	h.t.Helper()
	var msg *nats.Msg
	select {
	case msg = <-blocks:
	case <-time.After(timeout):
		for _, st := range h.node.Registry().List() {
			h.t.Logf("stream %s: units %d, keyframes %d, decoded %d, sampled %d, decode errors %d, queue drops %d",
				st.ID, st.Stats.Units.Load(), st.Stats.Keyframes.Load(), st.Stats.Decoded.Load(), st.Stats.Sampled.Load(),
				st.Stats.DecodeErrors.Load(), st.QueueDropped())
		}
		h.t.Fatalf("no block signal within %s", timeout)
	}
	at := time.Now()
	if err := signal.ValidateBlock(msg.Data); err != nil {
		h.t.Fatalf("signal fails the schema: %v\n%s", err, msg.Data)
	}
	ev, err := signal.ParseBlock(msg.Data)
	if err != nil {
		h.t.Fatal(err)
	}
	id, _ := ingest.StreamID(name)
	if msg.Subject != "vigil.block."+id || ev.Data.Stream.Name != name || ev.Data.Stream.Protocol != protocol ||
		ev.Data.Reason != "match" || len(ev.Data.Matches) == 0 || ev.Data.Matches[0].Label != "test-known-image" {
		h.t.Fatalf("unexpected signal on %s: %s", msg.Subject, msg.Data)
	}
	for _, m := range ev.Data.Matches {
		h.t.Logf("match: %s distance %d at %.2f s", m.Algorithm, m.Distance, m.StreamTime)
	}
	return ev, at
}

// knownClip writes the listed image and encodes it for mime.
func knownClip(t *testing.T, img, mime string, o testenv.EncodeOptions) []testenv.Frame {
	t.Helper()
	switch mime {
	case pion.MimeTypeH264:
		return testenv.ReadH264(t, testenv.EncodeH264(t, img, o))
	case pion.MimeTypeVP8:
		return testenv.ReadIVF(t, testenv.EncodeIVF(t, img, "libvpx", o), sampler.VP8IsKey)
	}
	t.Fatalf("no clip for %s", mime)
	return nil
}

// A pion WHIP publisher showing a listed image is blocked: the signal
// arrives, the publisher's session ends, and the stream is gone. The VP8
// clip has a keyframe only when it loops (every 4 s, past the 2 s max gap).
func TestWHIPKnownImageBlocked(t *testing.T) {
	tests := []struct {
		name, mime string
		gop        int
	}{
		{"h264", pion.MimeTypeH264, 30},
		{"vp8 without periodic keyframes", pion.MimeTypeVP8, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := testenv.WritePNG(t, "known.png", testenv.KnownImage(11, 640, 360))
			frames := knownClip(t, img, tt.mime, testenv.EncodeOptions{Duration: 4 * time.Second, GOP: tt.gop, Bitrate: "1M"})
			h := startNode(t, knownList(t, img), loopbackICE...)
			blocks := h.blocks()

			const name = "web.cam"
			p, err := testenv.PublishWHIP(t, h.whipURL(name), frames, testenv.WHIPOptions{MimeType: tt.mime, Audio: true})
			if err != nil {
				t.Fatal(err)
			}
			started := time.Now()
			_, at := h.awaitBlock(blocks, name, "whip", 15*time.Second)
			t.Logf("signal %s after the offer was answered", at.Sub(started).Round(time.Millisecond))
			select {
			case <-p.Ended():
				t.Logf("publisher's session ended %s after the signal", p.EndedAt().Sub(at).Round(time.Millisecond))
				if d := p.EndedAt().Sub(at); d > time.Second {
					t.Errorf("publisher ended %s after the signal, want within 1 s", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("publisher still connected 5 s after the block signal")
			}
			id, _ := ingest.StreamID(name)
			waitGone(t, h, id)
			t.Logf("%d PLIs received", p.PLIs())
		})
	}
}

// A stream without periodic keyframes that shows nothing listed keeps being
// sampled: past the 2 s max gap the adaptive sampler asks for keyframes,
// and the PLIs reach the publisher.
func TestWHIPKeyframeRequestsReachPublisher(t *testing.T) {
	img := testenv.WritePNG(t, "benign.png", testenv.KnownImage(17, 640, 360))
	frames := knownClip(t, img, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: 8 * time.Second, GOP: 1000, Bitrate: "1M"})
	h := startNode(t, knownList(t, testenv.WritePNG(t, "k.png", testenv.KnownImage(18, 64, 64))), loopbackICE...)
	p, err := testenv.PublishWHIP(t, h.whipURL("quiet"), frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	st := h.waitStream("quiet", 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	// Samples keep coming past the first GOP: the requested keyframes (or
	// the fallback full decode) supply them.
	for p.PLIs() < 2 || st.Stats.KeyRequests.Load() < 1 || st.Stats.Sampled.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d PLIs at the publisher, %d keyframe requests by the sampler, %d samples",
				p.PLIs(), st.Stats.KeyRequests.Load(), st.Stats.Sampled.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The node joins a stream a WHEP origin serves (from --whep-join), detects
// the listed image, leaves it and does not rejoin a blocked stream.
func TestWHEPJoinKnownImage(t *testing.T) {
	img := testenv.WritePNG(t, "known.png", testenv.KnownImage(12, 640, 360))
	origin := testenv.ServeWHEP(t, pion.MimeTypeH264, knownClip(t, img, pion.MimeTypeH264, testenv.EncodeOptions{Duration: 4 * time.Second, Bitrate: "1M"}))
	h := startNode(t, knownList(t, img), append(loopbackICE, "--whep-join", "joined="+origin.URL)...)
	blocks := h.blocks()
	h.awaitBlock(blocks, "joined", "whep", 15*time.Second)
	waitGone(t, h, "joined")
	deadline := time.Now().Add(5 * time.Second)
	for origin.Viewers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the node did not leave the origin")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if origin.Posts() != 1 {
		t.Errorf("%d offers: the node rejoined a blocked stream", origin.Posts())
	}
}

// JoinWHEP, as the admin API calls it: it returns once video flows,
// refuses a second join under the same name, and LeaveWHEP ends it.
func TestJoinWHEPAPI(t *testing.T) {
	img := testenv.WritePNG(t, "benign.png", testenv.KnownImage(13, 640, 360))
	origin := testenv.ServeWHEP(t, pion.MimeTypeVP8, knownClip(t, img, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: 2 * time.Second}))
	h := startNode(t, knownList(t, testenv.WritePNG(t, "k.png", testenv.KnownImage(14, 64, 64))), append(loopbackICE, "--admin-token", adminToken)...)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Through the admin API first.
	body := fmt.Sprintf(`{"url":%q,"name":"via-api","protocol":"whep"}`, origin.URL)
	if code, res := h.api("POST", "/api/joins", adminToken, strings.NewReader(body)); code != http.StatusAccepted || res["stream"] != "via-api" {
		t.Fatalf("API join: %d %v", code, res)
	}
	if st := h.node.Registry().Get("via-api"); st == nil || st.Protocol != "whep" {
		t.Fatalf("API-joined stream %+v", st)
	}
	h.node.LeaveWHEP("via-api")
	waitGone(t, h, "via-api")
	if err := h.node.JoinWHEP(ctx, origin.URL, "api", ""); err != nil {
		t.Fatal(err)
	}
	st := h.node.Registry().Get("api")
	if st == nil || st.Protocol != "whep" {
		t.Fatalf("joined stream %+v", st)
	}
	if err := h.node.JoinWHEP(ctx, origin.URL, "api", ""); !errors.Is(err, ingest.ErrStreamExists) {
		t.Errorf("second join under the same name: %v", err)
	}
	if err := h.node.JoinWHEP(ctx, "http://127.0.0.1:1/whep", "", ""); err == nil {
		t.Error("join without a name accepted")
	}
	if !h.node.LeaveWHEP("api") {
		t.Fatal("LeaveWHEP found no join")
	}
	waitGone(t, h, "api")
	if h.node.LeaveWHEP("api") {
		t.Error("LeaveWHEP found a join twice")
	}
}

// With tokens configured, WHIP answers 401 to a publisher without the
// right one, and a publisher with it gets in.
func TestWHIPTokens(t *testing.T) {
	img := testenv.WritePNG(t, "benign.png", testenv.KnownImage(15, 640, 360))
	frames := knownClip(t, img, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: 2 * time.Second})
	h := startNode(t, knownList(t, testenv.WritePNG(t, "k.png", testenv.KnownImage(16, 64, 64))),
		append(loopbackICE, "--whip-tokens", "studio-wide-token,cam=cam-only-token")...)
	var se *testenv.StatusError
	if _, err := testenv.PublishWHIP(t, h.whipURL("cam"), frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8, Token: "wrong-token"}); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %v, want 401", err)
	}
	if _, err := testenv.PublishWHIP(t, h.whipURL("other"), frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8, Token: "cam-only-token"}); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("another stream's token: %v, want 401", err)
	}
	p, err := testenv.PublishWHIP(t, h.whipURL("cam"), frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8, Token: "cam-only-token"})
	if err != nil {
		t.Fatal(err)
	}
	st := h.waitStream("cam", 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for st.Stats.Sampled.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the admitted stream is not sampled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasPrefix(p.Location, "http://"+h.node.HTTPAddr().String()+"/whip/cam/") {
		t.Errorf("Location %q", p.Location)
	}
}

// WHIP goes through the same admission step as RTMP: under --auth static
// the bearer token is the stream key, and the limits answer in HTTP terms.
func TestWHIPAdmission(t *testing.T) {
	img := testenv.WritePNG(t, "benign.png", testenv.KnownImage(19, 640, 360))
	frames := knownClip(t, img, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: 2 * time.Second})
	h := startNode(t, "", append(loopbackICE, "--auth", "static", "--stream-keys", "cam=cam-key-1234,*=any-key-5678", "--max-streams", "1")...)
	var se *testenv.StatusError
	if _, err := testenv.PublishWHIP(t, h.whipURL("cam"), frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8, Token: "wrong-key-0000"}); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %v, want 401", err)
	}
	if _, err := testenv.PublishWHIP(t, h.whipURL("cam"), frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8, Token: "cam-key-1234"}); err != nil {
		t.Fatalf("right key: %v", err)
	}
	h.waitStream("cam", 10*time.Second)
	// The node is full: the next publisher, with a valid key, gets 503.
	if _, err := testenv.PublishWHIP(t, h.whipURL("second"), frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8, Token: "any-key-5678"}); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("full node: %v, want 503", err)
	}
	if v := h.metric(`vigil_admissions_total{protocol="whip",reason="credentials",result="refused"}`); v != 1 {
		t.Errorf("credential refusals counted %v", v)
	}
	if v := h.metric(`vigil_admissions_total{protocol="whip",reason="capacity",result="refused"}`); v != 1 {
		t.Errorf("capacity refusals counted %v", v)
	}
}
