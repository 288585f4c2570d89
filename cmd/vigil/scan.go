package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/internal/scan"
	"github.com/vigilstream/vigil/sampler"
)

const scanUsage = `Usage: vigil scan --index INDEX [flags] FILE|URL...

Samples, hashes and matches files, images and URLs (anything FFmpeg opens:
MP4, MKV, IVF, MPEG-TS, RTMP, HLS, SRT) the way a node does live. Prints one
JSON line per match:
  {"input":PATH,"time":SECONDS,"list":...,"id":...,"label":...,"algorithm":...,"distance":N}
and one summary line per input:
  {"input":PATH,"frames":N,"matches":M,"decoded":D,"duration":SECONDS}
An input that cannot be read is reported on stderr, the others are still
scanned, and the exit status is non-zero.

Example:
  vigil scan --index known.txt recording.mp4 rtmp://origin/live/cam1

Flags:
`

func runScan(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("vigil scan", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() { fmt.Fprint(io.err, scanUsage); fs.PrintDefaults() }
	index := fs.String("index", "", "hash list or compiled index to match against (required)")
	policy := fs.String("policy", "adaptive", "sampling policy: keyframe, interval or adaptive")
	interval := fs.Duration("interval", time.Second, "least time between two samples")
	maxGap := fs.Duration("max-gap", 2*time.Second, "adaptive: longest time without a sample")
	random := fs.Float64("random-samples", 0, "extra samples a minute at random times")
	seed := fs.Uint64("seed", 1, "seed of the random sample times (0: random)")
	maxDistance := fs.Int("max-distance", 0, "match at most this Hamming distance (0: per algorithm, pdq 31, phash 10)")
	minQuality := fs.Int("min-quality", 50, "never match pictures whose PDQ quality is below this")
	dihedral := fs.Bool("dihedral", true, "also match rotated and mirrored pictures")
	noCrop := fs.Bool("no-crop", false, "hash whole pictures only")
	timeout := fs.Duration("io-timeout", 10*time.Second, "URL inputs: bound on each network read")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *index == "" || fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: vigil scan --index INDEX FILE|URL...", errUsage)
	}
	pol, err := sampler.ParsePolicy(*policy)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	idx, err := loadIndex(*index)
	if err != nil {
		return err
	}
	cfg := scan.Config{Sampling: sampler.DefaultConfig, MaxPixels: detector.DefaultMaxPixels, IOTimeout: *timeout}
	cfg.Sampling.Policy, cfg.Sampling.Interval, cfg.Sampling.MaxGap = pol, *interval, *maxGap
	cfg.Sampling.RandomPerMinute, cfg.Sampling.Seed, cfg.Sampling.NoCrop = *random, *seed, *noCrop
	cfg.Matching = detector.MatcherConfig{MinQuality: *minQuality, Dihedral: *dihedral}
	if *maxDistance > 0 {
		cfg.Matching.MaxDistance = map[detector.Algorithm]int{detector.PDQ: *maxDistance, detector.PHash: *maxDistance}
	}
	if err := cfg.Sampling.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}

	if isTerminal(io.err) {
		var last time.Time
		cfg.Progress = func(input string, at time.Duration, sum scan.Summary) {
			if time.Since(last) < 200*time.Millisecond {
				return
			}
			last = time.Now()
			fmt.Fprintf(io.err, "\r\033[Kscanning %s: %s, %d samples, %d matches", input, at.Round(time.Second), sum.Frames, sum.Matches)
		}
		defer fmt.Fprint(io.err, "\r\033[K")
	}
	w := bufio.NewWriter(io.out)
	defer w.Flush()
	enc := json.NewEncoder(w)
	s := scan.New(idx, cfg)
	failed := 0
	for _, input := range fs.Args() {
		sum, err := s.Input(ctx, input, func(m scan.Match) error {
			err := enc.Encode(m)
			w.Flush()
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.Flush()
			fmt.Fprintf(io.err, "vigil: %v\n", err)
			failed++
			continue
		}
		if err := enc.Encode(sum); err != nil {
			return err
		}
		w.Flush()
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d inputs could not be scanned", errFailed, failed, fs.NArg())
	}
	return nil
}
