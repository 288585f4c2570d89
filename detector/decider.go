package detector

import (
	"fmt"
	"time"
)

// Policy is the rule that turns matching samples into a verdict: at least
// MinMatches matching samples within Window.
type Policy struct {
	MinMatches int
	Window     time.Duration
}

// DefaultPolicy blocks on two matching samples within ten seconds: one
// match alone may be a near-collision, two in a row rarely are.
var DefaultPolicy = Policy{MinMatches: 2, Window: 10 * time.Second}

// Name identifies the policy in signals.
func (p Policy) Name() string { return "min-matches-in-window" }

// Validate reports a policy that can never or always fire.
func (p Policy) Validate() error {
	if p.MinMatches < 1 {
		return fmt.Errorf("detector: policy: min matches %d, want at least 1", p.MinMatches)
	}
	if p.Window <= 0 && p.MinMatches > 1 {
		return fmt.Errorf("detector: policy: window %s must be positive", p.Window)
	}
	return nil
}

// SampleMatch is one sampled picture that matched the index.
type SampleMatch struct {
	// PTS is the picture's time on the stream's clock.
	PTS time.Duration
	// At is when the sample was taken, on the clock the caller decides by.
	At      time.Time
	Hash    Hash
	Quality int
	// Matches are the nearest entries, nearest first.
	Matches []MatchedEntry
}

// MatchedEntry is a list entry a sample matched, copied out of the index so
// it outlives an index reload.
type MatchedEntry struct {
	Entry    Entry
	Distance int
}

// Verdict is the decision to block a stream.
type Verdict struct {
	Policy  Policy
	Matches []SampleMatch // oldest first
}

// Decider applies a Policy to one stream's samples. It is owned by the
// stream's detector stage and not safe for concurrent use.
type Decider struct {
	policy Policy
	recent []SampleMatch
}

// NewDecider returns a decider for policy p.
func NewDecider(p Policy) *Decider { return &Decider{policy: p} }

// Observe records a matching sample and returns a verdict once the policy
// fires. Samples older than the window are forgotten.
func (d *Decider) Observe(m SampleMatch) (Verdict, bool) {
	keep := d.recent[:0]
	for _, r := range d.recent {
		if m.At.Sub(r.At) < d.policy.Window {
			keep = append(keep, r)
		}
	}
	d.recent = append(keep, m)
	if len(d.recent) < d.policy.MinMatches {
		return Verdict{}, false
	}
	v := Verdict{Policy: d.policy, Matches: append([]SampleMatch(nil), d.recent...)}
	d.recent = d.recent[:0]
	return v, true
}
