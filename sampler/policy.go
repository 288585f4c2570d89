package sampler

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Policy decides which pictures of a stream are decoded and sampled.
type Policy uint8

// The sampling policies.
const (
	// Keyframe decodes keyframes only (skip_frame=nokey), at most one
	// sample per interval. The cheapest; blind between keyframes.
	Keyframe Policy = iota + 1
	// Interval decodes every picture and samples one per interval. The
	// most expensive; blind for at most one interval.
	Interval
	// Adaptive decodes keyframes only while they come often enough. When
	// no sample has been taken for MaxGap it asks ingest for a keyframe
	// (a PLI on WebRTC) and, if none comes, decodes the stream fully from
	// its last keyframe until keyframes return.
	Adaptive
)

// String returns the policy's configuration name.
func (p Policy) String() string {
	switch p {
	case Keyframe:
		return "keyframe"
	case Interval:
		return "interval"
	case Adaptive:
		return "adaptive"
	default:
		return fmt.Sprintf("policy(%d)", uint8(p))
	}
}

// ParsePolicy returns the policy named s.
func ParsePolicy(s string) (Policy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "keyframe":
		return Keyframe, nil
	case "interval":
		return Interval, nil
	case "adaptive":
		return Adaptive, nil
	default:
		return 0, fmt.Errorf("sampler: unknown policy %q (keyframe, interval or adaptive)", s)
	}
}

// Config is a stream's sampling configuration.
type Config struct {
	Policy Policy
	// Interval is the least time between two regular samples, on either
	// the stream's clock or the wall clock, whichever passes first: a
	// publisher that stretches or squeezes its timestamps cannot thin out
	// samples.
	Interval time.Duration
	// MaxGap (adaptive) is the longest time without a sample before the
	// sampler asks for a keyframe and, failing that, decodes fully.
	MaxGap time.Duration
	// KeyframeWait (adaptive) is how long a requested keyframe may take
	// before the sampler decodes fully instead.
	KeyframeWait time.Duration
	// RandomPerMinute is the mean number of extra samples a minute, taken
	// at random times (a Poisson process) on top of the policy, so content
	// cannot be timed to sit between keyframes. Between keyframes such a
	// sample costs decoding the group of pictures up to that point.
	RandomPerMinute float64
	// ConfirmDelay is how long after a Confirm request the confirming
	// sample is taken: long enough to be another picture, short enough to
	// block within a second.
	ConfirmDelay time.Duration
	// Seed makes the random sample times reproducible (tests); 0 draws a
	// seed from the operating system.
	Seed uint64
	// MaxGOPBytes bounds the coded bytes kept since the last keyframe for
	// catching up; a longer group of pictures cannot be caught up on.
	MaxGOPBytes int
	// MaxPixels refuses pictures larger than this (0: no limit).
	MaxPixels int
	// Buffers is the number of sampled pictures that may wait for or be in
	// the detector at once; a sample due while all are taken is dropped.
	Buffers int
	// NoCrop turns off border detection.
	NoCrop bool
}

// DefaultConfig is the node's default: adaptive, one sample a second at
// most, a forced sample after 2 s without one, two random extra samples a
// minute.
var DefaultConfig = Config{
	Policy:          Adaptive,
	Interval:        time.Second,
	MaxGap:          2 * time.Second,
	KeyframeWait:    500 * time.Millisecond,
	RandomPerMinute: 2,
	ConfirmDelay:    300 * time.Millisecond,
	MaxGOPBytes:     32 << 20,
	MaxPixels:       4096 * 2304,
	Buffers:         2,
}

// Validate reports a configuration the sampler cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Policy < Keyframe || c.Policy > Adaptive:
		return fmt.Errorf("sampler: unknown policy %d", c.Policy)
	case c.Interval < 0:
		return fmt.Errorf("sampler: negative interval %s", c.Interval)
	case c.Policy == Adaptive && c.MaxGap <= 0:
		return fmt.Errorf("sampler: adaptive policy needs a positive max gap, not %s", c.MaxGap)
	case c.RandomPerMinute < 0:
		return fmt.Errorf("sampler: negative random sample rate %g", c.RandomPerMinute)
	case c.MaxPixels < 0:
		return fmt.Errorf("sampler: negative pixel limit %d", c.MaxPixels)
	}
	return nil
}

// EscapeProbability is the probability that content shown for d seconds, at
// a moment the publisher does not know, is in no sample of a stream with
// keyframes every gop under cfg: regular samples come every gop (keyframe
// and adaptive policies) or every cfg.Interval (interval policy), and random
// samples are a Poisson process of cfg.RandomPerMinute a minute. A publisher
// who controls its own keyframes (it does: it runs the encoder) can always
// place content between them, so for it only the random term counts.
func EscapeProbability(cfg Config, gop, d time.Duration) float64 {
	period := gop
	switch cfg.Policy {
	case Interval:
		period = cfg.Interval
	case Adaptive:
		period = min(gop, cfg.MaxGap)
	}
	regular := 0.0
	if period > 0 && d < period {
		regular = 1 - d.Seconds()/period.Seconds()
	}
	random := math.Exp(-cfg.RandomPerMinute / 60 * d.Seconds())
	return regular * random
}
