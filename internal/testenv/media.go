package testenv

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
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

// stillArgs are ffmpeg's input arguments for a clip of image with a small
// moving test pattern in one corner, so that consecutive frames differ as
// live video does while the picture stays the image.
func stillArgs(image string, o EncodeOptions) []string {
	secs := strconv.FormatFloat(o.Duration.Seconds(), 'f', 3, 64)
	return []string{
		"-loop", "1", "-framerate", "30", "-i", image,
		"-f", "lavfi", "-i", "testsrc2=size=64x36:rate=30",
		"-filter_complex", "[0:v]scale=" + o.Size + ",format=yuv420p[bg];[bg][1:v]overlay=0:0:shortest=1,format=yuv420p[v]",
		"-map", "[v]", "-t", secs, "-r", "30",
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

// ReadH264 reads an Annex-B file into access units (one slice per picture,
// as EncodeH264 makes them), each with its start codes.
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
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("reading %s: %v", path, err)
		}
		cur.Data = append(cur.Data, 0, 0, 0, 1)
		cur.Data = append(cur.Data, nal.Data...)
		switch nal.UnitType {
		case h264reader.NalUnitTypeCodedSliceIdr:
			cur.Key = true
			fallthrough
		case h264reader.NalUnitTypeCodedSliceNonIdr:
			frames = append(frames, cur)
			cur = Frame{}
		}
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
