package sampler

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/vigilstream/vigil/detector"
)

// Stats counts what happened to a stream's units and pictures. The fields
// are safe to read while the stream runs.
type Stats struct {
	Units          atomic.Uint64 // access units received from ingest
	Keyframes      atomic.Uint64 // of which keyframes
	Decoded        atomic.Uint64 // pictures FFmpeg returned
	Sampled        atomic.Uint64 // pictures handed to the detector
	RandomSample   atomic.Uint64 // of which taken at random times
	ConfirmSamples atomic.Uint64 // of which taken to confirm a match
	CatchUps       atomic.Uint64 // groups of pictures decoded to reach a sample between keyframes
	Dropped        atomic.Uint64 // samples dropped because the detector was behind
	DecodeErrors   atomic.Uint64
	KeyRequests    atomic.Uint64 // keyframes asked of ingest
	FullDecode     atomic.Bool   // decoding every picture now
	// LastSample is the wall time of the last sample in Unix nanoseconds.
	LastSample atomic.Int64
	// Width and Height of the last decoded picture.
	Width, Height atomic.Int32
	// FirstPTS and LastPTS are the stream times of the first and latest
	// unit in microseconds, for the frame rate.
	FirstPTS, LastPTS atomic.Int64
}

// FPS is the stream's frame rate from its own timestamps (0 before a
// second of stream time).
func (s *Stats) FPS() float64 {
	span := time.Duration(s.LastPTS.Load()-s.FirstPTS.Load()) * time.Microsecond
	if span < time.Second {
		return 0
	}
	return float64(s.Units.Load()-1) / span.Seconds()
}

// sampleKind tells regular samples from the extra ones taken on top.
type sampleKind uint8

const (
	regular sampleKind = iota
	randomSample
	confirmSample
)

// Frame is a sampled picture's luma plane in Go memory.
type Frame struct {
	PTS     time.Duration
	Arrival time.Time
	// Plane is the whole picture; Content is the part inside any flat
	// border (letterbox, pillarbox, frame), or Plane itself.
	Plane   detector.Plane
	Content detector.Plane
	// Random is set for samples taken at a random time.
	Random bool
	// Confirm is set for samples taken because the detector asked to
	// confirm a match.
	Confirm bool
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
	f.pool, f.buf, f.Plane, f.Content = nil, nil, detector.Plane{}, detector.Plane{}
}

// Sampler decides which of a stream's access units to decode and sample.
// It is owned by one goroutine; Close frees its FFmpeg objects.
type Sampler struct {
	cfg   Config
	stats *Stats
	dec   *Decoder
	luma  lumaCopier
	crop  cropper
	pool  chan []byte
	rng   *rand.Rand
	hold  *astiav.Frame

	// RequestKeyframe, when set, asks ingest for a keyframe (a PLI on
	// WebRTC) and reports whether the request could be sent.
	RequestKeyframe func() bool

	confirmReq atomic.Int64 // Unix nanoseconds of a pending Confirm, 0 for none

	started    bool
	full       bool // decoding every picture (interval, or adaptive past a gap)
	have       bool
	lastPTS    time.Duration
	lastAt     time.Time
	lastAny    time.Time
	start      time.Time
	nextRandom time.Time
	keyAsked   time.Time
	gop        []AccessUnit
	gopBytes   int
	gopBroken  bool
}

// New returns a sampler for a track with parameters p.
func New(p Params, cfg Config, stats *Stats) (*Sampler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Buffers <= 0 {
		cfg.Buffers = DefaultConfig.Buffers
	}
	if cfg.MaxGOPBytes <= 0 {
		cfg.MaxGOPBytes = DefaultConfig.MaxGOPBytes
	}
	if stats == nil {
		stats = new(Stats)
	}
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	keyOnly := cfg.Policy != Interval
	dec, err := NewDecoder(p, DecoderOptions{KeyframesOnly: keyOnly, MaxPixels: cfg.MaxPixels})
	if err != nil {
		return nil, err
	}
	s := &Sampler{
		cfg: cfg, stats: stats, dec: dec, full: !keyOnly,
		pool: make(chan []byte, cfg.Buffers),
		rng:  newRand(seed),
		hold: astiav.AllocFrame(),
	}
	stats.FullDecode.Store(s.full)
	for range cfg.Buffers {
		s.pool <- nil
	}
	return s, nil
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)) }

// Close frees the sampler's FFmpeg objects.
func (s *Sampler) Close() {
	s.dec.Close()
	s.luma.freeScaler()
	if s.hold != nil {
		s.hold.Free()
		s.hold = nil
	}
}

// Run samples units from in until it is closed or ctx ends, and offers
// every sampled frame to out without blocking. Errors (a corrupt unit, a
// picture over the pixel limit) go to onErr; the sampler resyncs at the
// next keyframe.
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

// Push handles one access unit: it decodes what the policy needs and offers
// the samples that fall due to out.
func (s *Sampler) Push(au *AccessUnit, out chan<- Frame) error {
	s.stats.Units.Add(1)
	s.stats.LastPTS.Store(au.PTS.Microseconds())
	if !s.started {
		s.started, s.start = true, au.Arrival
		s.stats.FirstPTS.Store(au.PTS.Microseconds())
		s.drawRandom(au.Arrival)
	}
	s.remember(au)
	if au.Key {
		s.stats.Keyframes.Add(1)
	}
	var err error
	switch {
	case s.full && au.Key && s.cfg.Policy == Adaptive:
		// Keyframes are back: return to decoding them alone.
		s.setFull(false)
		err = s.pushKeyOnly(au, out)
	case s.full:
		err = s.decodeAndSample(au, out)
	default:
		err = s.pushKeyOnly(au, out)
	}
	if err != nil {
		s.stats.DecodeErrors.Add(1)
	}
	return err
}

// pushKeyOnly handles a unit while only keyframes are decoded.
func (s *Sampler) pushKeyOnly(au *AccessUnit, out chan<- Frame) error {
	extra := s.extraDue(au)
	if au.Key {
		if !s.due(au.PTS, au.Arrival) && extra == regular {
			s.dec.Observe(au)
			return nil
		}
		return s.decodeKey(au, out, extra)
	}
	if s.cfg.Policy == Adaptive && s.gapDue(au) {
		if s.waitForRequestedKey(au) {
			s.dec.Observe(au)
			return nil
		}
		if s.gopUsable() {
			s.setFull(true)
			return s.catchUp(out, false, regular)
		}
	}
	if extra != regular && s.gopUsable() {
		return s.catchUp(out, true, extra)
	}
	s.dec.Observe(au)
	return nil
}

// decodeKey decodes one keyframe (drained at once) and samples it.
func (s *Sampler) decodeKey(au *AccessUnit, out chan<- Frame, kind sampleKind) error {
	if len(s.pool) == 0 {
		// Every buffer is still with the detector: decoding now would
		// only produce a picture nobody can take.
		s.dec.Observe(au)
		s.stats.Dropped.Add(1)
		return nil
	}
	sent := false
	err := s.dec.Decode(au, func(f *astiav.Frame) error {
		s.noteDecoded(f)
		if sent {
			return nil
		}
		var err error
		sent, err = s.sample(f, au.PTS, au.Arrival, kind, out)
		return err
	})
	return err
}

// catchUp decodes the group of pictures from its keyframe to the latest
// unit and samples the latest picture. With back set the decoder returns
// to keyframes only afterwards; otherwise it goes on decoding every picture.
func (s *Sampler) catchUp(out chan<- Frame, back bool, kind sampleKind) error {
	if len(s.pool) == 0 {
		s.stats.Dropped.Add(1)
		return nil
	}
	s.stats.CatchUps.Add(1)
	if back {
		s.dec.SetKeyframesOnly(false)
		defer s.dec.SetKeyframesOnly(true)
	}
	last := &s.gop[len(s.gop)-1]
	s.hold.Unref()
	holding := false
	keep := func(f *astiav.Frame) error {
		s.noteDecoded(f)
		s.hold.Unref()
		if err := s.hold.Ref(f); err != nil {
			return err
		}
		holding = true
		return nil
	}
	var err error
	for i := range s.gop {
		if err = s.dec.Send(&s.gop[i]); err != nil {
			break
		}
		if err = s.dec.receive(keep); err != nil {
			break
		}
	}
	if err == nil && back {
		err = s.dec.Drain(keep)
	}
	if holding {
		_, serr := s.sample(s.hold, time.Duration(s.hold.Pts())*time.Microsecond, last.Arrival, kind, out)
		s.hold.Unref()
		if err == nil {
			err = serr
		}
	}
	return err
}

// decodeAndSample decodes a unit while every picture is decoded, sampling
// the pictures that fall due.
func (s *Sampler) decodeAndSample(au *AccessUnit, out chan<- Frame) error {
	extra := s.extraDue(au)
	return s.dec.Decode(au, func(f *astiav.Frame) error {
		s.noteDecoded(f)
		pts := time.Duration(f.Pts()) * time.Microsecond
		if extra == regular && !s.due(pts, au.Arrival) {
			return nil
		}
		if len(s.pool) == 0 {
			s.stats.Dropped.Add(1)
			return nil
		}
		sent, err := s.sample(f, pts, au.Arrival, extra, out)
		if sent {
			extra = regular
		}
		return err
	})
}

// sample copies a picture's luma into a free buffer and offers it to out.
func (s *Sampler) sample(f *astiav.Frame, pts time.Duration, arrival time.Time, kind sampleKind, out chan<- Frame) (bool, error) {
	var buf []byte
	select {
	case buf = <-s.pool:
	default:
		s.stats.Dropped.Add(1)
		return false, nil
	}
	plane, grown, err := s.luma.copy(f, buf)
	if err != nil {
		s.pool <- grown
		return false, err
	}
	content := plane
	if !s.cfg.NoCrop {
		content = s.crop.content(plane)
	}
	fr := Frame{PTS: pts, Arrival: arrival, Plane: plane, Content: content, Random: kind == randomSample,
		Confirm: kind == confirmSample, pool: s.pool, buf: grown}
	select {
	case out <- fr:
	default:
		s.pool <- grown
		s.stats.Dropped.Add(1)
		return false, nil
	}
	// Random samples come on top of the regular ones and must not push
	// the next regular sample back; they do count against the max gap.
	switch kind {
	case regular:
		s.have, s.lastPTS, s.lastAt = true, pts, arrival
	case randomSample:
		s.stats.RandomSample.Add(1)
		s.drawRandom(arrival)
	case confirmSample:
		s.stats.ConfirmSamples.Add(1)
		s.confirmReq.Store(0)
	}
	s.lastAny = arrival
	s.stats.Sampled.Add(1)
	s.stats.LastSample.Store(arrival.UnixNano())
	return true, nil
}

func (s *Sampler) noteDecoded(f *astiav.Frame) {
	s.stats.Decoded.Add(1)
	s.stats.Width.Store(int32(f.Width()))
	s.stats.Height.Store(int32(f.Height()))
}

func (s *Sampler) setFull(on bool) {
	if s.full == on {
		return
	}
	s.full = on
	s.stats.FullDecode.Store(on)
	s.dec.SetKeyframesOnly(!on)
}

// remember keeps the units since the last keyframe, within MaxGOPBytes,
// for catching up between keyframes.
func (s *Sampler) remember(au *AccessUnit) {
	if s.cfg.Policy == Interval || (s.cfg.Policy == Keyframe && s.cfg.RandomPerMinute == 0 && s.cfg.ConfirmDelay == 0) {
		return
	}
	if au.Key {
		clear(s.gop)
		s.gop, s.gopBytes, s.gopBroken = s.gop[:0], 0, false
	}
	if s.gopBroken {
		return
	}
	if s.gopBytes+au.Size() > s.cfg.MaxGOPBytes || (len(s.gop) == 0 && !au.Key) {
		clear(s.gop)
		s.gop, s.gopBytes, s.gopBroken = s.gop[:0], 0, true
		return
	}
	kept := *au
	if kept.Lent {
		kept.Frame, kept.Lent = append([]byte(nil), au.Frame...), false
	}
	s.gop = append(s.gop, kept)
	s.gopBytes += au.Size()
}

func (s *Sampler) gopUsable() bool { return !s.gopBroken && len(s.gop) > 0 && s.gop[0].Key }

// due reports whether a regular sample is due at a picture of stream time
// pts that arrived at arrival.
func (s *Sampler) due(pts time.Duration, arrival time.Time) bool {
	if !s.have {
		return true
	}
	// A jump back of more than an interval is a publisher resetting its
	// clock: sample rather than wait for it to catch up.
	d := s.cfg.Interval
	return pts-s.lastPTS >= d || s.lastPTS-pts > d || arrival.Sub(s.lastAt) >= d
}

// gapDue reports whether the adaptive policy's max gap has passed without a
// sample.
func (s *Sampler) gapDue(au *AccessUnit) bool {
	since := s.start
	if !s.lastAny.IsZero() {
		since = s.lastAny
	}
	return au.Arrival.Sub(since) >= s.cfg.MaxGap
}

// waitForRequestedKey asks ingest for a keyframe once per gap and reports
// whether the sampler should keep waiting for it.
func (s *Sampler) waitForRequestedKey(au *AccessUnit) bool {
	if s.RequestKeyframe == nil {
		return false
	}
	if s.keyAsked.IsZero() || au.Arrival.Sub(s.keyAsked) >= s.cfg.MaxGap {
		if !s.RequestKeyframe() {
			return false
		}
		s.stats.KeyRequests.Add(1)
		s.keyAsked = au.Arrival
	}
	return au.Arrival.Sub(s.keyAsked) < s.cfg.KeyframeWait
}

func (s *Sampler) randomDue(au *AccessUnit) bool {
	return s.cfg.RandomPerMinute > 0 && !au.Arrival.Before(s.nextRandom)
}

// extraDue says which extra sample, if any, falls due at au: a requested
// confirmation first, then a random one.
func (s *Sampler) extraDue(au *AccessUnit) sampleKind {
	if req := s.confirmReq.Load(); req != 0 && !au.Arrival.Before(time.Unix(0, req).Add(s.cfg.ConfirmDelay)) {
		return confirmSample
	}
	if s.randomDue(au) {
		return randomSample
	}
	return regular
}

// Confirm asks for an extra sample ConfirmDelay from now, instead of at the
// next keyframe: the detector calls it after a first match so a verdict
// needing two matches comes in a fraction of a second rather than a GOP.
// It is safe to call from another goroutine.
func (s *Sampler) Confirm() {
	s.confirmReq.CompareAndSwap(0, time.Now().UnixNano())
}

// drawRandom schedules the next random sample: exponential gaps make the
// sample times a Poisson process nobody can predict.
func (s *Sampler) drawRandom(from time.Time) {
	if s.cfg.RandomPerMinute <= 0 {
		return
	}
	mean := time.Minute.Seconds() / s.cfg.RandomPerMinute
	s.nextRandom = from.Add(time.Duration(s.rng.ExpFloat64() * mean * float64(time.Second)))
}
