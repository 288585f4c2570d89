package detector

import (
	"errors"
	"time"
)

// Hasher computes one perceptual hash algorithm from a luma plane.
type Hasher interface {
	Algorithm() Algorithm
	// HashPlane returns the hash and its quality (0-100).
	HashPlane(p Plane) (Hash, int, error)
}

// MatcherConfig tunes a Matcher.
type MatcherConfig struct {
	// MaxDistance per algorithm; missing algorithms use their
	// DefaultMaxDistance.
	MaxDistance map[Algorithm]int
	// MinQuality: samples whose hash quality is lower never match
	// (black, flat and test-pattern frames).
	MinQuality int
	// Policy decides when matches become a verdict.
	Policy Policy
	// MaxEntries bounds the entries kept per matching sample.
	MaxEntries int
}

func (c MatcherConfig) maxDistance(a Algorithm) int {
	if d, ok := c.MaxDistance[a]; ok {
		return d
	}
	return a.DefaultMaxDistance()
}

// Observation is what the matcher saw in one sample.
type Observation struct {
	Hashes  []Hash
	Quality int
	// Match is set when the sample matched the index.
	Match *SampleMatch
	// Best is the smallest distance to any entry within the query radius,
	// or -1 when nothing was within it.
	Best int
}

// Matcher hashes one stream's samples, queries the index current at the
// time of each sample and feeds matches to the stream's Decider. It is owned
// by one goroutine.
type Matcher struct {
	cfg     MatcherConfig
	index   func() *Index
	hashers []Hasher
	decider *Decider
	buf     []Match
}

// NewMatcher returns a matcher reading the index through index (called once
// per sample, so a reload takes effect at the next sample).
func NewMatcher(index func() *Index, hashers []Hasher, cfg MatcherConfig) *Matcher {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 5
	}
	return &Matcher{cfg: cfg, index: index, hashers: hashers, decider: NewDecider(cfg.Policy)}
}

// Observe hashes a sample taken at wall time at (stream time pts) and
// returns what matched and, when the policy fires, the verdict.
func (m *Matcher) Observe(pts time.Duration, at time.Time, p Plane) (Observation, *Verdict, error) {
	obs := Observation{Best: -1, Quality: 100}
	idx := m.index()
	var errs []error
	for _, h := range m.hashers {
		if !idx.Has(h.Algorithm()) {
			continue
		}
		hash, quality, err := h.HashPlane(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		obs.Hashes = append(obs.Hashes, hash)
		obs.Quality = min(obs.Quality, quality)
		if quality < m.cfg.MinQuality {
			continue
		}
		m.buf = idx.Query(hash, m.cfg.maxDistance(hash.Algorithm), m.buf[:0])
		if len(m.buf) == 0 {
			continue
		}
		if obs.Best < 0 || m.buf[0].Distance < obs.Best {
			obs.Best = m.buf[0].Distance
		}
		if obs.Match == nil {
			obs.Match = &SampleMatch{PTS: pts, At: at, Hash: hash, Quality: quality}
		}
		for _, mm := range m.buf[:min(len(m.buf), m.cfg.MaxEntries)] {
			obs.Match.Matches = append(obs.Match.Matches, MatchedEntry{Entry: *mm.Entry, Distance: mm.Distance})
		}
	}
	if obs.Match == nil {
		return obs, nil, errors.Join(errs...)
	}
	if v, ok := m.decider.Observe(*obs.Match); ok {
		return obs, &v, errors.Join(errs...)
	}
	return obs, nil, errors.Join(errs...)
}
