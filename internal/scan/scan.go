package scan

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"time"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/sampler"
)

// Match is one list entry a sampled picture matched: the JSON line
// `vigil scan` prints.
type Match struct {
	Input     string  `json:"input"`
	Time      float64 `json:"time"`
	List      string  `json:"list"`
	ID        string  `json:"id"`
	Label     string  `json:"label,omitempty"`
	Algorithm string  `json:"algorithm"`
	Distance  int     `json:"distance"`
}

// Summary is what scanning one input amounted to: the last JSON line
// `vigil scan` prints for it.
type Summary struct {
	Input   string `json:"input"`
	Frames  int    `json:"frames"`
	Matches int    `json:"matches"`
	// Decoded counts the pictures FFmpeg decoded (images: 1).
	Decoded uint64 `json:"decoded"`
	// Duration is the media time covered, in seconds.
	Duration float64 `json:"duration"`
}

// Config tunes a scan.
type Config struct {
	Sampling sampler.Config
	Matching detector.MatcherConfig
	// MaxPixels bounds images before decoding.
	MaxPixels int
	// IOTimeout bounds each network read of a URL.
	IOTimeout time.Duration
	// Progress, when set, is called after every sample with the media time
	// reached so far.
	Progress func(input string, at time.Duration, sum Summary)
}

// Scanner scans inputs against an index. It is not safe for concurrent use.
type Scanner struct {
	cfg   Config
	index *detector.Index
}

// New returns a scanner over idx.
func New(idx *detector.Index, cfg Config) *Scanner {
	// Offline every matching sample is reported; no verdict is needed, so
	// nothing asks for confirming samples either.
	cfg.Matching.Policy = detector.Policy{MinMatches: 1}
	cfg.Sampling.ConfirmDelay = 0
	return &Scanner{cfg: cfg, index: idx}
}

func (s *Scanner) matcher() *detector.Matcher {
	return detector.NewMatcher(func() *detector.Index { return s.index }, s.cfg.Matching)
}

// Input scans one file or URL; emit is called for every match in stream
// order. Images are recognised by content and hashed as one picture.
func (s *Scanner) Input(ctx context.Context, input string, emit func(Match) error) (Summary, error) {
	img, _, err := detector.DecodeImageFile(input, s.cfg.MaxPixels)
	switch {
	case err == nil:
		return s.image(input, img, emit)
	case errors.Is(err, detector.ErrUnsupportedFormat), errors.Is(err, fs.ErrNotExist):
		// Not an image (or a URL): FFmpeg's turn.
	default:
		return Summary{Input: input}, err
	}
	return s.video(ctx, input, emit)
}

func (s *Scanner) image(input string, img image.Image, emit func(Match) error) (Summary, error) {
	sum := Summary{Input: input, Frames: 1, Decoded: 1}
	p := LumaPlane(img)
	obs, _, err := s.matcher().Observe(0, time.Time{}, p, p)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", input, err)
	}
	return sum, s.report(input, obs.Match, &sum, emit)
}

func (s *Scanner) video(ctx context.Context, input string, emit func(Match) error) (Summary, error) {
	sum := Summary{Input: input}
	// Each unit goes to the sampler before the next is read: lend them.
	d, err := sampler.OpenDemuxer(ctx, input, sampler.DemuxOptions{IOTimeout: s.cfg.IOTimeout, Lend: true})
	if err != nil {
		return sum, err
	}
	defer d.Close()
	var stats sampler.Stats
	smp, err := sampler.New(d.Params(), s.cfg.Sampling, &stats)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", input, err)
	}
	defer smp.Close()
	m := s.matcher()
	frames := make(chan sampler.Frame, 1)
	var au sampler.AccessUnit
	var last time.Duration
	for {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		err := d.Read(&au)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("%s: %w", input, err)
		}
		last = max(last, au.PTS)
		// Decode errors are counted; the sampler resyncs at the next
		// keyframe, as it does live.
		_ = smp.Push(&au, frames)
		for len(frames) > 0 {
			f := <-frames
			obs, _, err := m.Observe(f.PTS, f.Arrival, f.Content, f.Plane)
			f.Release()
			sum.Frames++
			if err == nil {
				if err := s.report(input, obs.Match, &sum, emit); err != nil {
					return sum, err
				}
			}
			if s.cfg.Progress != nil {
				s.cfg.Progress(input, last, sum)
			}
		}
	}
	sum.Decoded = stats.Decoded.Load()
	sum.Duration = last.Seconds()
	return sum, nil
}

func (s *Scanner) report(input string, sm *detector.SampleMatch, sum *Summary, emit func(Match) error) error {
	if sm == nil {
		return nil
	}
	for _, me := range sm.Matches {
		sum.Matches++
		err := emit(Match{
			Input: input, Time: sm.PTS.Seconds(), List: me.Entry.List, ID: me.Entry.ID,
			Label: me.Entry.Label, Algorithm: sm.Hash.Algorithm.String(), Distance: me.Distance,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// LumaPlane converts an image to an 8-bit BT.601 luma plane; a YCbCr image
// gives its Y plane as it is, like a decoder's output.
func LumaPlane(img image.Image) detector.Plane {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if yc, ok := img.(*image.YCbCr); ok {
		off := yc.YOffset(b.Min.X, b.Min.Y)
		return detector.Plane{Pix: yc.Y[off:], Width: w, Height: h, Stride: yc.YStride}
	}
	p := detector.Plane{Pix: make([]byte, w*h), Width: w, Height: h, Stride: w}
	for y := range h {
		for x := range w {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			// 16-bit channels; 0.299, 0.587, 0.114 in 16.16 fixed point.
			p.Pix[y*w+x] = uint8((19595*r + 38470*g + 7471*bl + 1<<15) >> 24)
		}
	}
	return p
}
