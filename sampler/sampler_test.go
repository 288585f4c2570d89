package sampler

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilstream/vigil/internal/testenv"
)

// h264File encodes seconds of testsrc2 at 30 fps with a keyframe every gop
// frames, as raw Annex-B with access unit delimiters. Raw H.264 carries no
// timestamps, so the file has no B-frames: decode order is display order and
// accessUnits can number the units. B-frames are tested through Demuxer.
func h264File(t *testing.T, seconds, gop int, size string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "in.h264")
	testenv.RunFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30:duration="+itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", itoa(gop), "-keyint_min", itoa(gop),
		"-sc_threshold", "0", "-x264-params", "aud=1", "-pix_fmt", "yuv420p", "-f", "h264", out)
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// keyframeOnly is the keyframe policy without random samples.
var keyframeOnly = Config{Policy: Keyframe, Interval: time.Second, Buffers: 2}

// accessUnits splits an Annex-B file at its delimiters and stamps each unit
// as if it arrived in real time at 30 fps from t0.
func accessUnits(t *testing.T, path string, t0 time.Time) []AccessUnit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus []AccessUnit
	var cur [][]byte
	flush := func() {
		if len(cur) == 0 {
			return
		}
		pts := time.Duration(len(aus)) * time.Second / 30
		aus = append(aus, AccessUnit{PTS: pts, Arrival: t0.Add(pts), Key: H264IsKey(cur), NALUs: cur})
		cur = nil
	}
	for _, n := range SplitAnnexB(b) {
		if n[0]&0x1f == 9 {
			flush()
			continue
		}
		cur = append(cur, n)
	}
	flush()
	return aus
}

func TestSamplerKeyframesAtInterval(t *testing.T) {
	file := h264File(t, 10, 60, "320x240")
	aus := accessUnits(t, file, time.Unix(0, 0))
	if len(aus) != 300 {
		t.Fatalf("%d access units, want 300", len(aus))
	}
	tests := []struct {
		interval time.Duration
		want     []time.Duration
	}{
		{time.Second, []time.Duration{0, 2 * time.Second, 4 * time.Second, 6 * time.Second, 8 * time.Second}},
		{3 * time.Second, []time.Duration{0, 4 * time.Second, 8 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.interval.String(), func(t *testing.T) {
			var stats Stats
			s, err := New(Params{Codec: H264}, Config{Policy: Keyframe, Interval: tt.interval, Buffers: 1}, &stats)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			out := make(chan Frame, 1)
			var got []time.Duration
			for i := range aus {
				if err := s.Push(&aus[i], out); err != nil {
					t.Fatalf("unit %d: %v", i, err)
				}
				select {
				case f := <-out:
					if f.Plane.Width != 320 || f.Plane.Height != 240 {
						t.Errorf("plane %dx%d, want 320x240", f.Plane.Width, f.Plane.Height)
					}
					got = append(got, f.PTS)
					f.Release()
				default:
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("sampled at %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("sampled at %v, want %v", got, tt.want)
				}
			}
			if n := stats.Decoded.Load(); n != uint64(len(tt.want)) {
				t.Errorf("decoded %d pictures, want only the %d sampled keyframes", n, len(tt.want))
			}
			if n := stats.Keyframes.Load(); n != 5 {
				t.Errorf("%d keyframes, want 5", n)
			}
		})
	}
}

// The luma the sampler hands over is exactly FFmpeg's own decode of that
// picture: no colour round trip, no scaling.
func TestSamplerLumaIsFFmpegs(t *testing.T) {
	file := h264File(t, 1, 30, "176x144")
	// The raw yuv420p picture starts with its luma plane.
	want := testenv.FFmpegOutput(t, "-i", file, "-frames:v", "1", "-pix_fmt", "yuv420p", "-f", "rawvideo", "-")[:176*144]
	aus := accessUnits(t, file, time.Unix(0, 0))
	s, err := New(Params{Codec: H264}, keyframeOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make(chan Frame, 1)
	if err := s.Push(&aus[0], out); err != nil {
		t.Fatal(err)
	}
	f := <-out
	defer f.Release()
	if !bytes.Equal(f.Plane.Pix, want) {
		t.Fatalf("luma differs from ffmpeg's decode (%d vs %d bytes)", len(f.Plane.Pix), len(want))
	}
}

func TestSamplerDropsWhenDetectorBehind(t *testing.T) {
	aus := accessUnits(t, h264File(t, 10, 60, "160x120"), time.Unix(0, 0))
	var stats Stats
	s, err := New(Params{Codec: H264}, Config{Policy: Keyframe, Interval: time.Second, Buffers: 1}, &stats)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make(chan Frame, 4)
	for i := range aus {
		if err := s.Push(&aus[i], out); err != nil {
			t.Fatal(err)
		}
	}
	// Nobody released the first frame: its buffer was the only one.
	if got, want := len(out), 1; got != want {
		t.Fatalf("%d frames queued, want %d", got, want)
	}
	if got := stats.Dropped.Load(); got != 4 {
		t.Fatalf("dropped %d samples, want 4", got)
	}
	if got := stats.Decoded.Load(); got != 1 {
		t.Fatalf("decoded %d pictures, want 1: a sample nobody can take must not be decoded", got)
	}
	f := <-out
	f.Release()
}

func TestSamplerResyncsAfterCorruptKeyframe(t *testing.T) {
	aus := accessUnits(t, h264File(t, 4, 60, "160x120"), time.Unix(0, 0))
	var stats Stats
	s, err := New(Params{Codec: H264}, keyframeOnly, &stats)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Replace the first IDR's slice data with garbage.
	for i, n := range aus[0].NALUs {
		if n[0]&0x1f == 5 {
			bad := append([]byte{n[0]}, bytes.Repeat([]byte{0xff}, 64)...)
			aus[0].NALUs[i] = bad
		}
	}
	out := make(chan Frame, 4)
	var errs int
	for i := range aus {
		if err := s.Push(&aus[i], out); err != nil {
			errs++
		}
	}
	if stats.Sampled.Load() < 1 {
		t.Fatalf("no sample after the corrupt keyframe (decode errors %d, returned %d)", stats.DecodeErrors.Load(), errs)
	}
	for len(out) > 0 {
		f := <-out
		if f.PTS == 0 && stats.DecodeErrors.Load() == 0 {
			t.Errorf("corrupt keyframe produced a sample without an error")
		}
		f.Release()
	}
}

// Timestamps that jump back or far ahead do not stop sampling: the wall
// clock keeps it going.
func TestSamplerSurvivesTimestampJumps(t *testing.T) {
	aus := accessUnits(t, h264File(t, 10, 60, "160x120"), time.Unix(0, 0))
	for i := range aus {
		switch {
		case i >= 90 && i < 180:
			aus[i].PTS -= 50 * time.Second // back, before the start
		case i >= 180:
			aus[i].PTS += time.Hour // far ahead
		}
	}
	var stats Stats
	s, err := New(Params{Codec: H264}, keyframeOnly, &stats)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make(chan Frame, 1)
	for i := range aus {
		if err := s.Push(&aus[i], out); err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		for len(out) > 0 {
			f := <-out
			f.Release()
		}
	}
	if n := stats.Sampled.Load(); n != 5 {
		t.Fatalf("%d samples, want one per keyframe (5)", n)
	}
}

// A keyframe without any SPS/PPS yet is an error, counted, and sampling
// starts once they arrive.
func TestSamplerMissingParameterSets(t *testing.T) {
	aus := accessUnits(t, h264File(t, 4, 60, "160x120"), time.Unix(0, 0))
	strip := func(au *AccessUnit) {
		var keep [][]byte
		for _, n := range au.NALUs {
			if t := n[0] & 0x1f; t != 7 && t != 8 {
				keep = append(keep, n)
			}
		}
		au.NALUs = keep
	}
	sps, pps := aus[0].NALUs[0], aus[0].NALUs[1]
	strip(&aus[0])
	strip(&aus[60])
	var stats Stats
	s, err := New(Params{Codec: H264}, keyframeOnly, &stats)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make(chan Frame, 1)
	if err := s.Push(&aus[0], out); !errors.Is(err, ErrNoParameterSets) {
		t.Fatalf("err = %v, want ErrNoParameterSets", err)
	}
	// The parameter sets come in-band later, as an encoder restart would.
	aus[30].NALUs = append([][]byte{sps, pps}, aus[30].NALUs...)
	for i := 1; i < len(aus); i++ {
		if err := s.Push(&aus[i], out); err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
	}
	if stats.Sampled.Load() != 1 || stats.DecodeErrors.Load() != 1 {
		t.Fatalf("sampled %d, errors %d; want 1 and 1", stats.Sampled.Load(), stats.DecodeErrors.Load())
	}
	f := <-out
	f.Release()
}

// A publisher that changes resolution mid-stream (a new SPS) keeps being
// sampled at the new size.
func TestSamplerResolutionChange(t *testing.T) {
	a := accessUnits(t, h264File(t, 2, 30, "160x120"), time.Unix(0, 0))
	b := accessUnits(t, h264File(t, 2, 30, "320x180"), time.Unix(2, 0))
	for i := range b {
		b[i].PTS += 2 * time.Second
	}
	s, err := New(Params{Codec: H264}, keyframeOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make(chan Frame, 1)
	var sizes []string
	for _, au := range append(a, b...) {
		if err := s.Push(&au, out); err != nil {
			t.Fatal(err)
		}
		for len(out) > 0 {
			f := <-out
			sizes = append(sizes, strconv.Itoa(f.Plane.Width)+"x"+strconv.Itoa(f.Plane.Height))
			f.Release()
		}
	}
	want := []string{"160x120", "160x120", "320x180", "320x180"}
	if strings.Join(sizes, " ") != strings.Join(want, " ") {
		t.Fatalf("sample sizes %v, want %v", sizes, want)
	}
}
