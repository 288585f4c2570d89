package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilstream/vigil/sampler"
)

// Info describes a live stream.
type Info struct {
	// ID is the node's name for the stream, safe as a NATS subject token.
	ID string
	// Name is the stream name as the publisher gave it.
	Name string
	// Session is unique per connection: a block aimed at one session does
	// not end a later publisher who reuses the name.
	Session  string
	Protocol string
	Remote   string
	Started  time.Time
	// KeyHash is KeyHash of the credential the publisher was admitted
	// with, or empty when it presented none (joins).
	KeyHash string
}

// Consumer runs the stages after a stream's network reader (decoder and
// detector) until units is closed or ctx ends. The node provides it.
type Consumer func(ctx context.Context, s *Stream, p sampler.Params, units <-chan sampler.AccessUnit)

// Stream is a live stream's handle, shared by its protocol handler (the
// owner), the node's stages and the registry's kill switch.
type Stream struct {
	Info
	// Stats counts the stream's units and samples.
	Stats sampler.Stats

	reg      *Registry
	ctx      context.Context
	cancel   context.CancelCauseFunc
	consumer Consumer

	units    chan sampler.AccessUnit
	wait     sync.WaitGroup
	needKey  bool
	queueOff atomic.Uint64 // units dropped because the decoder was behind
	ended    sync.Once
	endedAt  atomic.Int64
	keyReq   atomic.Pointer[func() bool]
	params   atomic.Pointer[sampler.Params]
	done     chan struct{}

	// Bitrate accounting, touched by the owner's Push only.
	maxBitrate  int
	windowStart time.Time
	windowBytes int
}

// Done is closed once the stream has ended and freed its name.
func (s *Stream) Done() <-chan struct{} { return s.done }

// ErrBitrate is the cause of a stream ended for exceeding the bitrate limit.
var ErrBitrate = errors.New("ingest: bitrate over the limit")

// Params are the video track's parameters, or nil before StartVideo.
func (s *Stream) Params() *sampler.Params { return s.params.Load() }

// EndedAt is when the stream ended, or the zero time while it runs.
func (s *Stream) EndedAt() time.Time {
	if n := s.endedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// SetKeyframeRequester installs the protocol's way to ask the publisher for
// a keyframe (a PLI on WebRTC). Protocols without one leave it unset.
func (s *Stream) SetKeyframeRequester(fn func() bool) { s.keyReq.Store(&fn) }

// RequestKeyframe asks the publisher for a keyframe and reports whether the
// request went out.
func (s *Stream) RequestKeyframe() bool {
	if fn := s.keyReq.Load(); fn != nil {
		return (*fn)()
	}
	return false
}

// Context is done when the stream must end: a block, a shutdown or its own
// end. context.Cause tells which.
func (s *Stream) Context() context.Context { return s.ctx }

// Close asks the stream to end with reason as its cause. The protocol
// handler notices through Context and tears the connection down.
func (s *Stream) Close(reason error) { s.cancel(reason) }

// QueueDropped counts units dropped between the network reader and the
// decoder.
func (s *Stream) QueueDropped() uint64 { return s.queueOff.Load() }

// StartVideo starts the stream's consumer for a video track with parameters
// p. Call it once, from the owner, before Push.
func (s *Stream) StartVideo(p sampler.Params, queue int) {
	s.params.Store(&p)
	s.units = make(chan sampler.AccessUnit, queue)
	s.wait.Add(1)
	go func() {
		defer s.wait.Done()
		s.consumer(s.ctx, s, p, s.units)
	}()
}

// Push hands an access unit to the decoder without ever blocking the
// network reader. When the decoder is behind the unit is dropped and
// counted, and so is everything up to the next keyframe, which no decoder
// could use without the dropped unit.
func (s *Stream) Push(au sampler.AccessUnit) {
	if s.units == nil {
		return
	}
	if s.maxBitrate > 0 && s.overBitrate(au) {
		return
	}
	if s.needKey && !au.Key {
		s.queueOff.Add(1)
		return
	}
	select {
	case s.units <- au:
		s.needKey = false
	default:
		s.queueOff.Add(1)
		s.needKey = true
	}
}

// bitrateWindow is the span over which a stream's bitrate is measured.
const bitrateWindow = 5 * time.Second

// overBitrate counts au's bytes and ends the stream once a full window
// averages over the limit.
func (s *Stream) overBitrate(au sampler.AccessUnit) bool {
	now := au.Arrival
	if s.windowStart.IsZero() {
		s.windowStart = now
	}
	s.windowBytes += au.Size()
	if el := now.Sub(s.windowStart); el >= bitrateWindow {
		bps := int(float64(s.windowBytes*8) / el.Seconds())
		s.windowStart, s.windowBytes = now, 0
		if bps > s.maxBitrate {
			s.Close(fmt.Errorf("%w: %d kbit/s over %d kbit/s", ErrBitrate, bps/1000, s.maxBitrate/1000))
			return true
		}
	}
	return false
}

// End is called by the owner when the connection is over, whatever the
// reason: it stops the stages, waits for them and frees the stream name.
func (s *Stream) End(reason error) {
	s.ended.Do(func() {
		s.cancel(reason)
		if s.units != nil {
			close(s.units)
		}
		s.wait.Wait()
		s.endedAt.Store(time.Now().UnixNano())
		s.reg.remove(s)
		close(s.done)
	})
}

func newSession() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
