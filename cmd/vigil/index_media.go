package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/sampler/vpdq"
)

// indexMediaSource hashes an image or a video given as an index source into
// b with PDQ, labelled with the file name: an image is one entry; a video is
// one entry per distinct frame (a frame whose hash equals the previous one
// adds nothing), with its timestamp, and frames of quality below 50 are left
// out as vPDQ lists leave them out.
func indexMediaSource(ctx context.Context, path string, b *detector.Builder, opts detector.ListOptions) (detector.ListStats, error) {
	name := filepath.Base(path)
	st := detector.ListStats{Source: path, List: opts.List, Algorithm: detector.PDQ}
	if st.List == "" {
		st.List = name
	}
	label := opts.Label
	if label == "" {
		label = name
	}
	entry := func(h detector.Hash, t float64) detector.Entry {
		return detector.Entry{Hash: h, List: st.List, ID: name, Label: label, Source: path, Time: t, Allow: opts.Allow}
	}
	img, _, err := detector.DecodeImageFile(path, detector.DefaultMaxPixels)
	if err != nil && !errors.Is(err, detector.ErrUnsupportedFormat) {
		return st, err
	}
	if err == nil {
		h, q, err := detector.NewPDQHasher().HashImage(img)
		if err != nil {
			return st, fmt.Errorf("%s: %w", path, err)
		}
		st.Lines = 1
		if q < detector.VPDQMinQuality {
			st.LowQuality++
			return st, nil
		}
		st.Entries = 1
		return st, b.Add(entry(h, 0))
	}
	var last detector.Hash
	sum, err := vpdq.HashFile(ctx, path, vpdq.Options{}, func(f vpdq.Frame) error {
		st.Lines++
		if f.Quality < detector.VPDQMinQuality {
			st.LowQuality++
			return nil
		}
		if st.Entries > 0 && f.Hash == last {
			return nil
		}
		last = f.Hash
		st.Entries++
		return b.Add(entry(f.Hash, f.Timestamp))
	})
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	if sum.Frames == 0 {
		return st, fmt.Errorf("%s: no video frames", path)
	}
	return st, nil
}
