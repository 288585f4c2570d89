package testenv

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// EncodeOptions describe a short clip made from a still picture.
type EncodeOptions struct {
	// Duration of the clip (default 4 s) at 30 frames a second.
	Duration time.Duration
	// Size of the picture (default 640x360).
	Size string
	// GOP is the keyframe interval in frames (default 30); 0 or less than
	// the clip's frame count both work, a GOP longer than the clip gives a
	// single keyframe.
	GOP int
	// Bitrate, e.g. "1M" (default: the encoder's quality default).
	Bitrate string
}

func (o *EncodeOptions) defaults() {
	if o.Duration == 0 {
		o.Duration = 4 * time.Second
	}
	if o.Size == "" {
		o.Size = "640x360"
	}
	if o.GOP == 0 {
		o.GOP = 30
	}
}

// stillArgs are ffmpeg's input arguments for a clip showing image. The
// picture stays as it is: anything drawn over it (a moving pattern, a
// clock) moves a smooth picture's perceptual hash far more than encoding
// does.
func stillArgs(image string, o EncodeOptions) []string {
	secs := strconv.FormatFloat(o.Duration.Seconds(), 'f', 3, 64)
	return []string{
		"-loop", "1", "-framerate", "30", "-i", image,
		"-vf", "scale=" + strings.Replace(o.Size, "x", ":", 1) + ",format=yuv420p", "-t", secs, "-r", "30",
	}
}

// EncodeH264 encodes image as an H.264 Annex-B elementary stream (baseline
// profile, no B-frames, as WebRTC carries it) in the test's temporary
// directory and returns its path.
func EncodeH264(tb testing.TB, image string, o EncodeOptions) string {
	tb.Helper()
	o.defaults()
	out := filepath.Join(tb.TempDir(), "clip.h264")
	args := append(stillArgs(image, o), "-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast",
		"-tune", "zerolatency", "-bf", "0", "-g", strconv.Itoa(o.GOP), "-keyint_min", strconv.Itoa(o.GOP), "-sc_threshold", "0")
	if o.Bitrate != "" {
		args = append(args, "-b:v", o.Bitrate)
	}
	RunFFmpeg(tb, append(args, "-f", "h264", out)...)
	return out
}

// EncodeIVF encodes image with codec (libvpx for VP8, libvpx-vp9, or
// libaom-av1) into an IVF file and returns its path.
func EncodeIVF(tb testing.TB, image, codec string, o EncodeOptions) string {
	tb.Helper()
	o.defaults()
	out := filepath.Join(tb.TempDir(), "clip.ivf")
	args := append(stillArgs(image, o), "-c:v", codec, "-g", strconv.Itoa(o.GOP), "-keyint_min", strconv.Itoa(o.GOP))
	switch codec {
	case "libvpx", "libvpx-vp9":
		args = append(args, "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0")
		if o.Bitrate == "" {
			o.Bitrate = "1M"
		}
	case "libaom-av1":
		args = append(args, "-cpu-used", "8", "-usage", "realtime", "-lag-in-frames", "0")
		if o.Bitrate == "" {
			o.Bitrate = "500k"
		}
	}
	if o.Bitrate != "" {
		args = append(args, "-b:v", o.Bitrate)
	}
	RunFFmpeg(tb, append(args, "-f", "ivf", out)...)
	return out
}

// Frame is one coded picture of a clip: Annex-B for H.264, the frame as
// IVF stores it otherwise.
type Frame struct {
	Data []byte
	Key  bool
}

// ReadH264 reads an Annex-B file into access units, each with its start
// codes. A picture may be coded in several slices (x264 with
// -tune zerolatency slices keyframes): a new access unit starts at a
// parameter set or SEI after a slice, or at a slice whose
// first_mb_in_slice is 0.
func ReadH264(tb testing.TB, path string) []Frame {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var frames []Frame
	var cur Frame
	haveSlice := false
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("reading %s: %v", path, err)
		}
		vcl := nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr
		// first_mb_in_slice is ue(v): 0 is the single bit 1.
		firstSlice := vcl && len(nal.Data) > 1 && nal.Data[1]&0x80 != 0
		if haveSlice && (!vcl || firstSlice) {
			frames = append(frames, cur)
			cur, haveSlice = Frame{}, false
		}
		cur.Data = append(cur.Data, 0, 0, 0, 1)
		cur.Data = append(cur.Data, nal.Data...)
		if vcl {
			haveSlice = true
			cur.Key = cur.Key || nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr
		}
	}
	if haveSlice {
		frames = append(frames, cur)
	}
	if len(frames) == 0 {
		tb.Fatalf("%s holds no picture", path)
	}
	return frames
}

// ReadIVF reads an IVF file's frames.
func ReadIVF(tb testing.TB, path string, isKey func([]byte) bool) []Frame {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		tb.Fatal(err)
	}
	var frames []Frame
	for {
		data, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			tb.Fatalf("reading %s: %v", path, err)
		}
		frames = append(frames, Frame{Data: data, Key: isKey != nil && isKey(data)})
	}
	if len(frames) == 0 {
		tb.Fatalf("%s holds no frame", path)
	}
	return frames
}
