package webrtc

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/testenv"
	"github.com/vigilstream/vigil/sampler"
)

// clip encodes a short clip of a benign picture for mime and reads it into
// frames.
func clip(t *testing.T, mime string, o testenv.EncodeOptions) []testenv.Frame {
	t.Helper()
	img := testenv.WritePNG(t, "still.png", testenv.KnownImage(7, 640, 360))
	switch mime {
	case pion.MimeTypeH264:
		return testenv.ReadH264(t, testenv.EncodeH264(t, img, o))
	case pion.MimeTypeVP8:
		return testenv.ReadIVF(t, testenv.EncodeIVF(t, img, "libvpx", o), sampler.VP8IsKey)
	case pion.MimeTypeVP9:
		return testenv.ReadIVF(t, testenv.EncodeIVF(t, img, "libvpx-vp9", o), sampler.VP9IsKey)
	case pion.MimeTypeAV1:
		return testenv.ReadIVF(t, testenv.EncodeIVF(t, img, "libaom-av1", o), sampler.AV1IsKey)
	}
	t.Fatalf("no clip for %s", mime)
	return nil
}

// Every codec a publisher may negotiate arrives as access units the
// sampler decodes at full size; audio beside it is ignored; DELETE ends the
// session, the publisher sees it end and the name is free again.
func TestWHIPCodecs(t *testing.T) {
	tests := []struct {
		mime  string
		codec sampler.Codec
	}{
		{pion.MimeTypeH264, sampler.H264},
		{pion.MimeTypeVP8, sampler.VP8},
		{pion.MimeTypeVP9, sampler.VP9},
		{pion.MimeTypeAV1, sampler.AV1},
	}
	for _, tt := range tests {
		t.Run(tt.codec.String(), func(t *testing.T) {
			frames := clip(t, tt.mime, testenv.EncodeOptions{Duration: 2 * time.Second})
			r := newRig(t, DefaultConfig, DefaultClientConfig)
			p, err := testenv.PublishWHIP(t, r.endpoint("cam"), frames, testenv.WHIPOptions{MimeType: tt.mime, Audio: true})
			if err != nil {
				t.Fatal(err)
			}
			d := r.stats("cam", 10*time.Second)
			if d.codec != tt.codec {
				t.Fatalf("codec %s, want %s", d.codec, tt.codec)
			}
			waitFor(t, 10*time.Second, "30 pictures decoded", func() bool { return d.stats.Decoded.Load() >= 30 })
			if w, h := d.stats.Width.Load(), d.stats.Height.Load(); w != 640 || h != 360 {
				t.Errorf("decoded %dx%d, want 640x360", w, h)
			}
			if d.stats.Keyframes.Load() == 0 {
				t.Error("no keyframe recognised")
			}
			if errs := d.stats.DecodeErrors.Load(); errs != 0 {
				t.Errorf("%d decode errors", errs)
			}
			if p.PLIs() == 0 {
				t.Error("no PLI at stream start")
			}

			req, _ := http.NewRequest(http.MethodDelete, p.Location, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("DELETE: %s", resp.Status)
			}
			select {
			case <-p.Ended():
			case <-time.After(5 * time.Second):
				t.Fatal("publisher did not see the session end")
			}
			if r.reg.Len() != 0 || r.srv.Sessions() != 0 {
				t.Fatalf("after DELETE: %d streams, %d sessions", r.reg.Len(), r.srv.Sessions())
			}
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("second DELETE: %s, want 404", resp.Status)
			}
		})
	}
}

// A block ends the session at once: the publisher's connection closes and
// the stream name is free.
func TestWHIPBlockEndsSession(t *testing.T) {
	frames := clip(t, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: 2 * time.Second})
	r := newRig(t, DefaultConfig, DefaultClientConfig)
	p, err := testenv.PublishWHIP(t, r.endpoint("cam"), frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	d := r.stats("cam", 10*time.Second)
	waitFor(t, 10*time.Second, "a picture decoded", func() bool { return d.stats.Decoded.Load() > 0 })
	blocked := time.Now()
	if !r.reg.Close("cam", "", ingest.ErrBlocked) {
		t.Fatal("stream not found")
	}
	select {
	case <-p.Ended():
		t.Logf("publisher saw the end %s after the block", p.EndedAt().Sub(blocked).Round(time.Millisecond))
		if d := p.EndedAt().Sub(blocked); d > 500*time.Millisecond {
			t.Errorf("publisher ended %s after the block, want under 500 ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publisher still connected 5 s after the block")
	}
	waitFor(t, 5*time.Second, "stream freed", func() bool { return r.reg.Len() == 0 && r.srv.Sessions() == 0 })
}

// Without periodic keyframes the stream still starts with a PLI, and each
// keyframe request of the sampler becomes a PLI, at most one per
// pliInterval.
func TestWHIPKeyframeRequests(t *testing.T) {
	frames := clip(t, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: 2 * time.Second, GOP: 1000})
	r := newRig(t, DefaultConfig, DefaultClientConfig)
	p, err := testenv.PublishWHIP(t, r.endpoint("cam"), frames[1:], testenv.WHIPOptions{MimeType: pion.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "stream live", func() bool { return r.reg.Get("cam") != nil })
	st := r.reg.Get("cam")
	waitFor(t, 5*time.Second, "PLI at start", func() bool { return p.PLIs() >= 1 })
	// The clip has no keyframe: the reader keeps asking for one.
	waitFor(t, 5*time.Second, "PLIs while no keyframe came", func() bool { return p.PLIs() >= 3 })
	before := p.PLIs()
	if !st.RequestKeyframe() {
		t.Fatal("keyframe request not sent")
	}
	waitFor(t, 5*time.Second, "PLI for the sampler's request", func() bool { return p.PLIs() > before })
}

// Sessions setting up are bounded: past MaxPending the server answers 503
// with Retry-After, and says so clearly.
func TestWHIPPendingLimit(t *testing.T) {
	cfg := DefaultConfig
	cfg.MaxPending, cfg.SetupTimeout = 2, 30*time.Second
	r := newRig(t, cfg, DefaultClientConfig)
	offer := deadOffer(t)
	for i, want := range []int{201, 201, 503} {
		_, _, err := testenv.PostSDP(r.endpoint("s"+string(rune('a'+i))), "", offer)
		var se *testenv.StatusError
		switch {
		case want == 201 && err != nil:
			t.Fatalf("POST %d: %v", i, err)
		case want == 503 && (!errors.As(err, &se) || se.Code != 503 || !strings.Contains(se.Body, "too many")):
			t.Fatalf("POST %d: %v, want 503", i, err)
		}
	}
}

// After Close the server refuses offers with 503 and the client refuses
// joins; nothing is left running.
func TestCloseRefusesNewWork(t *testing.T) {
	r := newRig(t, DefaultConfig, DefaultClientConfig)
	offer := deadOffer(t)
	if _, _, err := testenv.PostSDP(r.endpoint("before"), "", offer); err != nil {
		t.Fatal(err)
	}
	_ = r.srv.Close()
	_ = r.client.Close()
	var se *testenv.StatusError
	if _, _, err := testenv.PostSDP(r.endpoint("after"), "", offer); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable || !strings.Contains(se.Body, "shutting down") {
		t.Fatalf("POST after Close: %v, want 503", err)
	}
	if _, err := r.client.Join("http://127.0.0.1:1/whep", "after", ""); !errors.Is(err, ingest.ErrShutdown) {
		t.Fatalf("Join after Close: %v", err)
	}
	if r.srv.Sessions() != 0 || r.reg.Len() != 0 {
		t.Fatalf("%d sessions, %d streams after Close", r.srv.Sessions(), r.reg.Len())
	}
}
