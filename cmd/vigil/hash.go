package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"os"

	"github.com/vigilstream/vigil/detector"
)

const hashUsage = `Usage: vigil hash image [--max-pixels N] FILE...

Hashes each image and prints one line per file: hash,quality,path.
A file that cannot be hashed is reported on stderr; the others are still
hashed and the exit status is non-zero.

Example:
  vigil hash image photo1.jpg photo2.png

Flags:
`

func runHash(ctx context.Context, args []string, io stdio) error {
	if len(args) == 0 || args[0] != "image" {
		fmt.Fprint(io.err, hashUsage)
		return fmt.Errorf("%w: vigil hash image FILE...", errUsage)
	}
	fs := flag.NewFlagSet("vigil hash image", flag.ContinueOnError)
	fs.SetOutput(io.err)
	maxPixels := fs.Int("max-pixels", 100_000_000, "refuse images with more pixels than this, before decoding")
	fs.Usage = func() { fmt.Fprint(io.err, hashUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no files", errUsage)
	}
	failed := 0
	for _, path := range fs.Args() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h, q, err := hashImageFile(path, *maxPixels)
		if err != nil {
			fmt.Fprintf(io.err, "vigil: %v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(io.out, "%s,%d,%s\n", h, q, path)
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d files could not be hashed", errFailed, failed, fs.NArg())
	}
	return nil
}

func hashImageFile(path string, maxPixels int) (detector.Hash, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return detector.Hash{}, 0, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return detector.Hash{}, 0, fmt.Errorf("%s: %w", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return detector.Hash{}, 0, fmt.Errorf("%s: %dx%d: %w", path, cfg.Width, cfg.Height, detector.ErrImageTooLarge)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return detector.Hash{}, 0, err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return detector.Hash{}, 0, fmt.Errorf("%s: %w", path, err)
	}
	h, q, err := detector.PHashImage(img)
	if err != nil {
		return detector.Hash{}, 0, fmt.Errorf("%s: %w", path, err)
	}
	return h, q, nil
}
