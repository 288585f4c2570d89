package sampler

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilstream/vigil/internal/testenv"
)

// encode writes 4 s of testsrc2 at 320x240 with a keyframe every 2 s, with
// the given encoder arguments, into name (its extension picks the muxer).
func encode(t *testing.T, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	full := append([]string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=4", "-pix_fmt", "yuv420p", "-g", "60"}, args...)
	testenv.RunFFmpeg(t, append(full, out)...)
	return out
}

func demuxAll(t *testing.T, path string) (Params, []AccessUnit) {
	t.Helper()
	d, err := OpenDemuxer(context.Background(), path, DemuxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var aus []AccessUnit
	for {
		var au AccessUnit
		err := d.Read(&au)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		aus = append(aus, au)
	}
	return d.Params(), aus
}

// Every codec decodes keyframes alone, and the luma equals FFmpeg's own
// decode of the same picture.
func TestCodecsKeyframeDecode(t *testing.T) {
	tests := []struct {
		name, file string
		args       []string
		codec      Codec
		isKey      func(*AccessUnit) bool
	}{
		{"h264 mp4 with B-frames", "a.mp4", []string{"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2"}, H264, nil},
		{"hevc mkv", "a.mkv", []string{"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none:keyint=60:min-keyint=60:scenecut=0"}, HEVC, nil},
		{"vp8 ivf", "a.ivf", []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k"}, VP8, func(au *AccessUnit) bool { return VP8IsKey(au.Frame) }},
		{"vp9 ivf", "a.ivf", []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k"}, VP9, func(au *AccessUnit) bool { return VP9IsKey(au.Frame) }},
		{"av1 ivf", "a.ivf", []string{"-c:v", "libaom-av1", "-cpu-used", "8", "-usage", "realtime", "-b:v", "300k"}, AV1, func(au *AccessUnit) bool { return AV1IsKey(au.Frame) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := encode(t, tt.file, tt.args...)
			p, aus := demuxAll(t, file)
			if p.Codec != tt.codec {
				t.Fatalf("codec %s, want %s", p.Codec, tt.codec)
			}
			if len(aus) != 120 {
				t.Fatalf("%d units, want 120", len(aus))
			}
			var keys []time.Duration
			for i := range aus {
				if aus[i].Key {
					keys = append(keys, aus[i].PTS)
				}
				if tt.isKey != nil && tt.isKey(&aus[i]) != aus[i].Key {
					t.Errorf("unit %d: bitstream says key=%v, container says %v", i, tt.isKey(&aus[i]), aus[i].Key)
				}
			}
			if len(keys) != 2 || keys[0] != 0 || keys[1] != 2*time.Second {
				t.Fatalf("keyframes at %v, want [0s 2s]", keys)
			}
			var stats Stats
			s, err := New(p, keyframeOnly, &stats)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			out := make(chan Frame, 4)
			var frames []Frame
			for i := range aus {
				if err := s.Push(&aus[i], out); err != nil {
					t.Fatalf("unit %d: %v", i, err)
				}
				for len(out) > 0 {
					frames = append(frames, <-out)
				}
			}
			if len(frames) != 2 || stats.Decoded.Load() != 2 {
				t.Fatalf("%d samples, %d decoded; want the 2 keyframes", len(frames), stats.Decoded.Load())
			}
			want := testenv.FFmpegOutput(t, "-i", file, "-frames:v", "1", "-pix_fmt", "yuv420p", "-f", "rawvideo", "-")[:320*240]
			if !bytes.Equal(frames[0].Plane.Pix, want) {
				t.Errorf("first keyframe's luma differs from ffmpeg's decode")
			}
			for _, f := range frames {
				f.Release()
			}
		})
	}
}

func TestPixelLimit(t *testing.T) {
	file := encode(t, "a.mp4", "-c:v", "libx264", "-preset", "ultrafast")
	p, aus := demuxAll(t, file)
	cfg := keyframeOnly
	cfg.MaxPixels = 320*240 - 1
	s, err := New(p, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make(chan Frame, 1)
	err = s.Push(&aus[0], out)
	if !errors.Is(err, ErrPictureTooLarge) {
		t.Fatalf("err = %v, want ErrPictureTooLarge", err)
	}
	if len(out) != 0 {
		t.Fatal("picture over the limit was sampled")
	}
}

// Lent packets are used in place; what the sampler keeps for catching up
// it copies, so catch-ups after the demuxer moved on decode cleanly.
func TestLentPacketsCatchUp(t *testing.T) {
	file := encode(t, "long.mp4", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "120", "-keyint_min", "120", "-sc_threshold", "0")
	d, err := OpenDemuxer(context.Background(), file, DemuxOptions{Lend: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var stats Stats
	cfg := Config{Policy: Adaptive, Interval: time.Second, MaxGap: 1500 * time.Millisecond}
	s, err := New(d.Params(), cfg, &stats)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make(chan Frame, 4)
	var au AccessUnit
	for {
		err := d.Read(&au)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !au.Lent {
			t.Fatal("demuxer did not lend")
		}
		if err := s.Push(&au, out); err != nil {
			t.Fatalf("push: %v", err)
		}
		for len(out) > 0 {
			f := <-out
			f.Release()
		}
	}
	if stats.CatchUps.Load() != 1 || stats.DecodeErrors.Load() != 0 || stats.Sampled.Load() < 3 {
		t.Fatalf("catch-ups %d, decode errors %d, samples %d", stats.CatchUps.Load(), stats.DecodeErrors.Load(), stats.Sampled.Load())
	}
}
