package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/sampler/vpdq"
)

const hashUsage = `Usage:
  vigil hash image [--algorithm pdq|phash] [--max-pixels N] FILE...
  vigil hash video [--every DURATION] FILE

hash image prints one line per file: hash,quality,path. PDQ is computed at
full resolution, as Meta's reference does. A file that cannot be hashed is
reported on stderr; the others are still hashed and the exit status is
non-zero.

hash video prints vPDQ lines, frameNumber,quality,pdq_hex,timestampSeconds,
for every frame (or one per --every of presentation time), like Meta's
vPDQ tool.

Examples:
  vigil hash image photo1.jpg photo2.png
  vigil hash video --every 1s clip.mp4 > clip.vpdq.txt
`

func runHash(ctx context.Context, args []string, io stdio) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(io.out, hashUsage)
		return nil
	}
	if len(args) == 0 || (args[0] != "image" && args[0] != "video") {
		fmt.Fprint(io.err, hashUsage)
		return fmt.Errorf("%w: vigil hash image|video", errUsage)
	}
	fs := flag.NewFlagSet("vigil hash "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() { fmt.Fprint(io.err, hashUsage); fs.PrintDefaults() }
	algo := fs.String("algorithm", "pdq", "image: pdq or phash")
	maxPixels := fs.Int("max-pixels", detector.DefaultMaxPixels, "image: refuse images with more pixels than this, before decoding")
	every := fs.Duration("every", 0, "video: hash one frame per this much presentation time (0: every frame)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no files", errUsage)
	}
	if args[0] == "video" {
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: hash video takes one file", errUsage)
		}
		return hashVideo(ctx, fs.Arg(0), *every, io)
	}
	a, err := detector.ParseAlgorithm(*algo)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return hashImages(ctx, fs.Args(), a, *maxPixels, io)
}

func hashImages(ctx context.Context, paths []string, a detector.Algorithm, maxPixels int, io stdio) error {
	pdq := detector.NewPDQHasher()
	failed := 0
	for _, path := range paths {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h, q, err := hashImageFile(pdq, path, a, maxPixels)
		if err != nil {
			fmt.Fprintf(io.err, "vigil: %v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(io.out, "%s,%d,%s\n", h, q, path)
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d files could not be hashed", errFailed, failed, len(paths))
	}
	return nil
}

func hashImageFile(pdq *detector.PDQHasher, path string, a detector.Algorithm, maxPixels int) (detector.Hash, int, error) {
	img, _, err := detector.DecodeImageFile(path, maxPixels)
	if err != nil {
		return detector.Hash{}, 0, err
	}
	var h detector.Hash
	var q int
	if a == detector.PHash {
		h, q, err = detector.PHashImage(img)
	} else {
		h, q, err = pdq.HashImage(img)
	}
	if err != nil {
		return detector.Hash{}, 0, fmt.Errorf("%s: %w", path, err)
	}
	return h, q, nil
}

func hashVideo(ctx context.Context, path string, every time.Duration, io stdio) error {
	w := bufio.NewWriter(io.out)
	defer w.Flush()
	_, err := vpdq.HashFile(ctx, path, vpdq.Options{Every: every}, func(f vpdq.Frame) error {
		_, err := fmt.Fprintln(w, f.String())
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
