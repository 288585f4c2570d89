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

// DihedralHasher also returns the hashes of the plane's eight rotations and
// mirrors, so mirrored or rotated material matches.
type DihedralHasher interface {
	Hasher
	HashPlaneDihedral(p Plane) ([8]Hash, int, error)
}

// Algorithm returns PDQ.
func (h *PDQHasher) Algorithm() Algorithm { return PDQ }

// MatcherConfig tunes a Matcher.
type MatcherConfig struct {
	// MaxDistance per algorithm; missing algorithms use their
	// DefaultMaxDistance.
	MaxDistance map[Algorithm]int
	// MinQuality: samples whose PDQ quality is lower never match (black,
	// flat and test-pattern frames).
	MinQuality int
	// Dihedral also matches the sample's rotations and mirrors.
	Dihedral bool
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
	// Hashes of the sample, one per algorithm the index holds (of the
	// content area; the upright orientation).
	Hashes []Hash
	// Quality is PDQ's quality of the sample (0-100).
	Quality int
	// Match is set when the sample matched the index.
	Match *SampleMatch
	// Best is the smallest distance to any entry within the query radius,
	// or -1 when nothing was within it.
	Best int
	// HashTime and MatchTime are spent hashing and querying.
	HashTime, MatchTime time.Duration
}

// Matcher hashes one stream's samples, queries the index current at the
// time of each sample and feeds matches to the stream's Decider. It is owned
// by one goroutine: its hashers keep scratch buffers.
type Matcher struct {
	cfg     MatcherConfig
	index   func() *Index
	pdq     *PDQHasher
	phash   PHasher
	decider *Decider
	buf     []Match
	hashes  []Hash
}

// NewMatcher returns a matcher reading the index through index (called once
// per sample, so a reload takes effect at the next sample).
func NewMatcher(index func() *Index, cfg MatcherConfig) *Matcher {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 5
	}
	return &Matcher{cfg: cfg, index: index, pdq: NewPDQHasher(), decider: NewDecider(cfg.Policy)}
}

// Observe hashes a sample taken at wall time at (stream time pts) and
// returns what matched and, when the policy fires, the verdict. content is
// the part of the picture inside any border; full is the whole picture.
// Both are hashed when they differ, since a list may hold the material with
// or without the border.
func (m *Matcher) Observe(pts time.Duration, at time.Time, content, full Plane) (Observation, *Verdict, error) {
	obs := Observation{Best: -1}
	idx := m.index()
	planes := []Plane{content}
	if full.Width != content.Width || full.Height != content.Height {
		planes = append(planes, full)
	}
	var errs []error
	quality := -1
	var best *SampleMatch
	for pi, p := range planes {
		t0 := time.Now()
		m.hashes = m.hashes[:0]
		var err error
		// PDQ always runs: its quality gates every algorithm.
		if m.cfg.Dihedral && idx.Has(PDQ) {
			var hs [8]Hash
			var q int
			hs, q, err = m.pdq.HashPlaneDihedral(p)
			if err == nil {
				m.hashes = append(m.hashes, hs[:]...)
				quality = max(quality, q)
			}
		} else {
			var h Hash
			var q int
			h, q, err = m.pdq.HashPlane(p)
			if err == nil {
				if idx.Has(PDQ) {
					m.hashes = append(m.hashes, h)
				}
				quality = max(quality, q)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
		if idx.Has(PHash) {
			h, _, err := m.phash.HashPlane(p)
			if err != nil {
				errs = append(errs, err)
			} else {
				m.hashes = append(m.hashes, h)
			}
		}
		t1 := time.Now()
		obs.HashTime += t1.Sub(t0)
		if pi == 0 {
			// The first hash of each algorithm is the upright one.
			for _, h := range m.hashes {
				if len(obs.Hashes) == 0 || obs.Hashes[len(obs.Hashes)-1].Algorithm != h.Algorithm {
					obs.Hashes = append(obs.Hashes, h)
				}
			}
		}
		if quality < m.cfg.MinQuality {
			continue
		}
		for _, h := range m.hashes {
			m.buf = idx.Query(h, m.cfg.maxDistance(h.Algorithm), m.buf[:0])
			if len(m.buf) == 0 {
				continue
			}
			if obs.Best >= 0 && m.buf[0].Distance >= obs.Best {
				continue
			}
			obs.Best = m.buf[0].Distance
			best = &SampleMatch{PTS: pts, At: at, Hash: h}
			for _, mm := range m.buf[:min(len(m.buf), m.cfg.MaxEntries)] {
				best.Matches = append(best.Matches, MatchedEntry{Entry: mm.Entry, Distance: mm.Distance})
			}
		}
		obs.MatchTime += time.Since(t1)
	}
	obs.Quality = max(quality, 0)
	if best == nil {
		return obs, nil, errors.Join(errs...)
	}
	best.Quality = obs.Quality
	obs.Match = best
	if v, ok := m.decider.Observe(*best); ok {
		return obs, &v, errors.Join(errs...)
	}
	return obs, nil, errors.Join(errs...)
}
