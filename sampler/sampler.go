package sampler

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/vigilstream/vigil/detector"
)

// Config is a stream's sampling configuration.
type Config struct {
	// Interval is the least time between two samples, on either the
	// stream's clock or the wall clock, whichever passes first: a publisher
	// that stretches or squeezes its timestamps cannot thin out samples.
	Interval time.Duration
	// MaxPixels refuses pictures larger than this (0: no limit).
	MaxPixels int
	// Buffers is the number of sampled pictures that may wait for or be in
	// the detector at once; a sample due while all are taken is dropped.
	Buffers int
}

// DefaultConfig samples at most once a second.
var DefaultConfig = Config{Interval: time.Second, MaxPixels: 4096 * 2304, Buffers: 2}

// Stats counts what happened to a stream's units and pictures. The fields
// are safe to read while the stream runs.
type Stats struct {
	Units        atomic.Uint64 // access units received from ingest
	Keyframes    atomic.Uint64 // of which keyframes
	Decoded      atomic.Uint64 // pictures FFmpeg returned
	Sampled      atomic.Uint64 // pictures handed to the detector
	Dropped      atomic.Uint64 // samples dropped because the detector was behind
	DecodeErrors atomic.Uint64
	// LastSample is the wall time of the last sample in Unix nanoseconds.
	LastSample atomic.Int64
	// Width and Height of the last decoded picture.
	Width, Height atomic.Int32
}

// Frame is a sampled picture's luma plane in Go memory.
type Frame struct {
	PTS     time.Duration
	Arrival time.Time
	Plane   detector.Plane
	pool    chan []byte
	buf     []byte
}

// Release hands the frame's pixels back to its stream for reuse; the frame
// must not be used afterwards.
func (f *Frame) Release() {
	if f.pool == nil {
		return
	}
	select {
	case f.pool <- f.buf:
	default:
	}
	f.pool, f.buf, f.Plane = nil, nil, detector.Plane{}
}

// Sampler decides which of a stream's access units to decode and sample.
// It is owned by one goroutine; Close frees its FFmpeg objects.
type Sampler struct {
	cfg    Config
	stats  *Stats
	dec    *Decoder
	luma   lumaCopier
	pool   chan []byte
	have   bool
	lastPT time.Duration
	lastAt time.Time
}

// New returns a sampler for a track with parameters p. The decoder keeps to
// keyframes: only those due for a sample reach FFmpeg.
func New(p Params, cfg Config, stats *Stats) (*Sampler, error) {
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("sampler: negative interval %s", cfg.Interval)
	}
	if cfg.Buffers <= 0 {
		cfg.Buffers = DefaultConfig.Buffers
	}
	if stats == nil {
		stats = new(Stats)
	}
	dec, err := NewDecoder(p, DecoderOptions{KeyframesOnly: true, MaxPixels: cfg.MaxPixels})
	if err != nil {
		return nil, err
	}
	s := &Sampler{cfg: cfg, stats: stats, dec: dec, pool: make(chan []byte, cfg.Buffers)}
	for range cfg.Buffers {
		s.pool <- nil
	}
	return s, nil
}

// Close frees the sampler's FFmpeg objects.
func (s *Sampler) Close() {
	s.dec.Close()
	s.luma.freeScaler()
}

// Run samples units from in until it is closed or ctx ends, and offers
// every sampled frame to out without blocking. A decode error is counted and
// returned to the caller through onErr; the sampler resyncs at the next
// keyframe.
func (s *Sampler) Run(ctx context.Context, in <-chan AccessUnit, out chan<- Frame, onErr func(error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case au, ok := <-in:
			if !ok {
				return
			}
			if err := s.Push(&au, out); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// Push handles one access unit: a keyframe that is due is decoded and its
// luma offered to out.
func (s *Sampler) Push(au *AccessUnit, out chan<- Frame) error {
	s.stats.Units.Add(1)
	if !au.Key {
		s.dec.Observe(au)
		return nil
	}
	s.stats.Keyframes.Add(1)
	if !s.due(au) {
		s.dec.Observe(au)
		return nil
	}
	var buf []byte
	select {
	case buf = <-s.pool:
	default:
		// Every buffer is still with the detector: decoding now would
		// only produce a picture nobody can take.
		s.dec.Observe(au)
		s.stats.Dropped.Add(1)
		return nil
	}
	sent := false
	err := s.dec.Decode(au, func(f *astiav.Frame) error {
		s.stats.Decoded.Add(1)
		s.stats.Width.Store(int32(f.Width()))
		s.stats.Height.Store(int32(f.Height()))
		if sent {
			return nil
		}
		plane, grown, err := s.luma.copy(f, buf)
		buf = grown
		if err != nil {
			return err
		}
		fr := Frame{PTS: au.PTS, Arrival: au.Arrival, Plane: plane, pool: s.pool, buf: buf}
		select {
		case out <- fr:
			sent = true
		default:
			s.stats.Dropped.Add(1)
		}
		return nil
	})
	if !sent {
		s.pool <- buf
	}
	if err != nil {
		s.stats.DecodeErrors.Add(1)
		if errors.Is(err, astiav.ErrInvaliddata) {
			return fmt.Errorf("%w (resyncing at the next keyframe)", err)
		}
		return err
	}
	if sent {
		s.have, s.lastPT, s.lastAt = true, au.PTS, au.Arrival
		s.stats.Sampled.Add(1)
		s.stats.LastSample.Store(au.Arrival.UnixNano())
	}
	return nil
}

// due reports whether a sample is due at au under the interval rule.
func (s *Sampler) due(au *AccessUnit) bool {
	if !s.have {
		return true
	}
	d := s.cfg.Interval
	return au.PTS-s.lastPT >= d || au.PTS < s.lastPT || au.Arrival.Sub(s.lastAt) >= d
}
