package rtmp

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/vigilstream/vigil/internal/testenv"
	"github.com/vigilstream/vigil/sampler"
)

// annexBUnits encodes seconds of test pattern with the given encoder into a
// raw Annex-B file and splits it into access units at its delimiters.
func annexBUnits(t *testing.T, delimiter func([]byte) bool, args ...string) [][][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "raw")
	testenv.RunFFmpeg(t, append(append([]string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3", "-pix_fmt", "yuv420p"}, args...), out)...)
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	var cur [][]byte
	for _, n := range sampler.SplitAnnexB(raw) {
		if delimiter(n) {
			if len(cur) > 0 {
				aus = append(aus, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, n)
	}
	return append(aus, cur)
}

func dial(t *testing.T, s *Server, path string) *gortmplib.Client {
	t.Helper()
	u, _ := url.Parse(fmt.Sprintf("rtmp://%s/%s", s.Addr(), path))
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// HEVC over enhanced RTMP (OBS 29+ sends it) reaches the sampler with its
// parameter sets and keyframes.
func TestEnhancedRTMPHEVC(t *testing.T) {
	aus := annexBUnits(t, func(n []byte) bool { return (n[0]>>1)&0x3f == 35 },
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "aud=1:keyint=60:min-keyint=60:scenecut=0:log-level=none:repeat-headers=1", "-f", "hevc")
	var rec recorder
	s, _, _ := startServer(t, DefaultConfig, rec.consume)
	c := dial(t, s, "live/hevc")
	track := &gortmplib.Track{Codec: &codecs.H265{VPS: aus[0][0], SPS: aus[0][1], PPS: aus[0][2]}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{track}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	for i, au := range aus {
		pts := time.Duration(i) * time.Second / 30
		if err := w.WriteH265(track, pts, pts, au); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec.mu.Lock()
		n, p := len(rec.units), rec.param
		rec.mu.Unlock()
		if n >= 60 {
			if p.Codec != sampler.HEVC || len(p.VPS) == 0 || len(p.SPS) == 0 {
				t.Fatalf("params %+v", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d units arrived", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	keys := 0
	for _, au := range rec.units {
		if au.Key {
			keys++
		}
	}
	if keys < 1 {
		t.Fatal("no HEVC keyframe recognised")
	}
}

// A publisher that switches codec mid-stream is ended with that reason.
func TestCodecSwitchEndsStream(t *testing.T) {
	aus := annexBUnits(t, func(n []byte) bool { return n[0]&0x1f == 9 },
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-x264-params", "aud=1", "-f", "h264")
	var rec recorder
	s, reg, logs := startServer(t, DefaultConfig, rec.consume)
	c := dial(t, s, "live/switch")
	track := &gortmplib.Track{Codec: &codecs.H264{SPS: aus[0][0], PPS: aus[0][1]}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{track}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	for i, au := range aus[:75] {
		pts := time.Duration(i) * time.Second / 30
		if err := w.WriteH264(track, pts, pts, au); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Write(&message.VideoExFramesX{ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
		FourCC: message.FourCCVP9, DTS: 3 * time.Second, Payload: []byte{0x82, 0x49, 0x83}})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "codec changed") {
		if time.Now().After(deadline) {
			t.Fatalf("no codec-switch reason in the log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for reg.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("stream still registered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
