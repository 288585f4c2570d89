package sampler

import (
	"math"
	"testing"
	"time"
)

type sampleRecord struct {
	pts    time.Duration
	random bool
}

// runPolicy pushes every unit through a sampler and records the samples,
// releasing each at once (a detector that keeps up).
func runPolicy(t *testing.T, cfg Config, aus []AccessUnit, requestKey func() bool) ([]sampleRecord, *Stats) {
	t.Helper()
	var stats Stats
	s, err := New(Params{Codec: H264}, cfg, &stats)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.RequestKeyframe = requestKey
	out := make(chan Frame, 4)
	var got []sampleRecord
	for i := range aus {
		if err := s.Push(&aus[i], out); err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		for len(out) > 0 {
			f := <-out
			if f.Plane.Width != 160 || f.Plane.Height != 120 {
				t.Fatalf("sample %dx%d", f.Plane.Width, f.Plane.Height)
			}
			got = append(got, sampleRecord{f.PTS, f.Random})
			f.Release()
		}
	}
	return got, &stats
}

func maxGap(samples []sampleRecord, end time.Duration) time.Duration {
	var gap, last time.Duration
	for _, s := range samples {
		gap = max(gap, s.pts-last)
		last = s.pts
	}
	return max(gap, end-last)
}

func TestIntervalPolicyDecodesEverything(t *testing.T) {
	aus := accessUnits(t, h264File(t, 10, 150, "160x120"), time.Unix(0, 0))
	cfg := Config{Policy: Interval, Interval: time.Second}
	samples, stats := runPolicy(t, cfg, aus, nil)
	if n := stats.Decoded.Load(); n < 295 {
		t.Errorf("decoded %d of 300 pictures", n)
	}
	if len(samples) < 9 || len(samples) > 10 {
		t.Fatalf("%d samples in 10 s at one a second: %v", len(samples), samples)
	}
	if g := maxGap(samples, 10*time.Second); g > time.Second+50*time.Millisecond {
		t.Fatalf("longest time without a sample %s", g)
	}
}

// With a 5 s GOP, keyframes alone leave 5 s blind; adaptive decodes from the
// last keyframe when 2 s pass without a sample.
func TestAdaptivePolicyCoversLongGOP(t *testing.T) {
	aus := accessUnits(t, h264File(t, 10, 150, "160x120"), time.Unix(0, 0))
	key, keyStats := runPolicy(t, keyframeOnly, aus, nil)
	if g := maxGap(key, 10*time.Second); g < 5*time.Second {
		t.Fatalf("keyframe policy gap %s, want the 5 s GOP", g)
	}
	cfg := Config{Policy: Adaptive, Interval: time.Second, MaxGap: 2 * time.Second}
	samples, stats := runPolicy(t, cfg, aus, nil)
	if g := maxGap(samples, 10*time.Second); g > 2*time.Second+100*time.Millisecond {
		t.Fatalf("adaptive policy left %s without a sample: %v", g, samples)
	}
	if stats.CatchUps.Load() != 2 {
		t.Errorf("%d catch-ups, want one per long GOP (2)", stats.CatchUps.Load())
	}
	if keyStats.Decoded.Load() != 2 {
		t.Errorf("keyframe policy decoded %d pictures, want the 2 keyframes", keyStats.Decoded.Load())
	}
}

// On a 2 s GOP adaptive costs what keyframes cost: no full decoding.
func TestAdaptivePolicyShortGOPDecodesKeyframesOnly(t *testing.T) {
	aus := accessUnits(t, h264File(t, 10, 60, "160x120"), time.Unix(0, 0))
	cfg := Config{Policy: Adaptive, Interval: time.Second, MaxGap: 2500 * time.Millisecond}
	samples, stats := runPolicy(t, cfg, aus, nil)
	if stats.Decoded.Load() != 5 || len(samples) != 5 || stats.CatchUps.Load() != 0 {
		t.Fatalf("decoded %d, sampled %d, catch-ups %d; want 5, 5, 0", stats.Decoded.Load(), len(samples), stats.CatchUps.Load())
	}
}

// Where ingest can ask for a keyframe, adaptive asks first and decodes fully
// only when none comes within KeyframeWait.
func TestAdaptivePolicyRequestsKeyframe(t *testing.T) {
	aus := accessUnits(t, h264File(t, 10, 150, "160x120"), time.Unix(0, 0))
	requests := 0
	cfg := Config{Policy: Adaptive, Interval: time.Second, MaxGap: 2 * time.Second, KeyframeWait: 500 * time.Millisecond}
	samples, stats := runPolicy(t, cfg, aus, func() bool { requests++; return true })
	if requests == 0 || stats.KeyRequests.Load() != uint64(requests) {
		t.Fatalf("%d keyframe requests (stats %d)", requests, stats.KeyRequests.Load())
	}
	// The publisher never answers: the sample comes after the wait.
	if g := maxGap(samples, 10*time.Second); g < 2500*time.Millisecond-50*time.Millisecond || g > 2600*time.Millisecond {
		t.Fatalf("longest gap %s, want max gap plus keyframe wait (2.5 s)", g)
	}
}

// Random samples land between keyframes, at times nobody can predict, and
// cost a catch-up each.
func TestRandomSamplesBetweenKeyframes(t *testing.T) {
	aus := accessUnits(t, h264File(t, 10, 150, "160x120"), time.Unix(0, 0))
	cfg := keyframeOnly
	cfg.RandomPerMinute = 30
	cfg.Seed = 42
	samples, stats := runPolicy(t, cfg, aus, nil)
	random := 0
	for _, s := range samples {
		if s.random {
			random++
			if s.pts%(5*time.Second) == 0 {
				t.Errorf("random sample on a keyframe at %s", s.pts)
			}
		}
	}
	if random == 0 || stats.RandomSample.Load() != uint64(random) || stats.CatchUps.Load() == 0 {
		t.Fatalf("random samples %d (stats %d), catch-ups %d: %v", random, stats.RandomSample.Load(), stats.CatchUps.Load(), samples)
	}
	other, _ := runPolicy(t, Config{Policy: Keyframe, Interval: time.Second, RandomPerMinute: 30, Seed: 43}, aus, nil)
	if len(other) == len(samples) {
		same := true
		for i := range other {
			same = same && other[i] == samples[i]
		}
		if same {
			t.Fatal("two seeds gave the same random sample times")
		}
	}
}

// EscapeProbability's formula agrees with the scheduler the sampler really
// runs: content shown for T seconds at a random moment escapes keyframe
// samples when it fits between two keyframes, and random samples with
// probability exp(-rT).
func TestEscapeProbabilityMatchesScheduler(t *testing.T) {
	const trials = 20000
	gop := 4 * time.Second
	for _, tc := range []struct {
		policy    Policy
		perMinute float64
		show      time.Duration
	}{
		{Keyframe, 0, time.Second},
		{Keyframe, 6, time.Second},
		{Keyframe, 12, 3 * time.Second},
		{Interval, 0, 500 * time.Millisecond},
		{Keyframe, 6, 5 * time.Second},
	} {
		cfg := Config{Policy: tc.policy, Interval: time.Second, RandomPerMinute: tc.perMinute, Seed: 7}
		want := EscapeProbability(cfg, gop, tc.show)
		got := simulateEscapes(cfg, gop, tc.show, trials)
		// Three standard errors of a binomial proportion.
		tol := 3*math.Sqrt(want*(1-want)/trials) + 0.002
		if math.Abs(got-want) > tol {
			t.Errorf("%s, %g random/min, shown %s: simulated %.4f, formula %.4f", tc.policy, tc.perMinute, tc.show, got, want)
		}
	}
}

// simulateEscapes shows content for T at uniformly random phases against
// the sampler's own random schedule and counts the showings no sample hits.
func simulateEscapes(cfg Config, gop, show time.Duration, trials int) float64 {
	s := &Sampler{cfg: cfg}
	s.rng = newRand(cfg.Seed)
	period := gop
	if cfg.Policy == Interval {
		period = cfg.Interval
	}
	escaped := 0
	t0 := time.Unix(0, 0)
	for i := range trials {
		// Each trial is an independent stream: a fresh random schedule
		// and a random phase of the content against the regular samples.
		base := t0.Add(time.Duration(i) * time.Hour)
		s.drawRandom(base)
		phase := time.Duration(s.rng.Int64N(int64(period)))
		start, end := base.Add(phase), base.Add(phase+show)
		hit := show >= period-phase // the next regular sample at base+period
		for !hit && cfg.RandomPerMinute > 0 && s.nextRandom.Before(end) {
			if !s.nextRandom.Before(start) {
				hit = true
			}
			s.drawRandom(s.nextRandom)
		}
		if !hit {
			escaped++
		}
	}
	return float64(escaped) / float64(trials)
}

// Random samples come on top: every keyframe that is due is still sampled.
func TestRandomSamplesDoNotDelayRegularOnes(t *testing.T) {
	aus := accessUnits(t, h264File(t, 10, 60, "160x120"), time.Unix(0, 0))
	cfg := keyframeOnly
	cfg.RandomPerMinute = 120
	cfg.Seed = 9
	samples, _ := runPolicy(t, cfg, aus, nil)
	regular := map[time.Duration]bool{}
	random := 0
	for _, s := range samples {
		if s.random {
			random++
		} else {
			regular[s.pts] = true
		}
	}
	for k := time.Duration(0); k < 10*time.Second; k += 2 * time.Second {
		if !regular[k] {
			t.Errorf("keyframe at %s not sampled (samples %v)", k, samples)
		}
	}
	if random < 5 {
		t.Errorf("only %d random samples at 2 a second", random)
	}
}

// After a first match the detector asks for confirmation: the sampler
// takes the next sample ConfirmDelay later, between keyframes, instead of a
// GOP later.
func TestConfirmSample(t *testing.T) {
	t0 := time.Now()
	aus := accessUnits(t, h264File(t, 6, 120, "160x120"), t0)
	cfg := keyframeOnly
	cfg.ConfirmDelay = 300 * time.Millisecond
	var stats Stats
	s, err := New(Params{Codec: H264}, cfg, &stats)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make(chan Frame, 2)
	var got []Frame
	for i := range aus {
		if err := s.Push(&aus[i], out); err != nil {
			t.Fatal(err)
		}
		for len(out) > 0 {
			f := <-out
			got = append(got, f)
			f.Release()
			if len(got) == 1 {
				s.Confirm() // the first sample "matched"
			}
		}
	}
	if len(got) != 3 || !got[1].Confirm || stats.ConfirmSamples.Load() != 1 {
		t.Fatalf("samples %v, confirm samples %d; want keyframes at 0, 4 s and a confirmation in between", ptsOf(got), stats.ConfirmSamples.Load())
	}
	if d := got[1].PTS; d < 250*time.Millisecond || d > 800*time.Millisecond {
		t.Fatalf("confirmation at %s, want about 0.3 s after the first sample", d)
	}
}

func ptsOf(fs []Frame) []time.Duration {
	var out []time.Duration
	for _, f := range fs {
		out = append(out, f.PTS)
	}
	return out
}
