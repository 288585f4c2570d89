package webrtc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/sampler"
)

// pliInterval is the least time between two keyframe requests: a sampler
// that asks again sooner is told the last request still stands.
const pliInterval = 500 * time.Millisecond

// receiveMTU bounds one RTP packet read from a track.
const receiveMTU = 1500

type sessionConfig struct {
	queue       int
	maxFrame    int
	readTimeout time.Duration
}

// mediaSession is one peer connection carrying one stream, whichever side
// offered it. Its owner calls run, which is the only place that tears the
// connection down: pion's callbacks only cancel the session's context.
type mediaSession struct {
	st  *ingest.Stream
	pc  *pion.PeerConnection
	log *slog.Logger
	cfg sessionConfig

	ctx    context.Context
	cancel context.CancelCauseFunc

	started   chan struct{} // closed when video flows
	startOnce sync.Once

	mu      sync.Mutex
	closing bool
	readers sync.WaitGroup

	video        atomic.Bool
	remoteClosed atomic.Bool
	lastPLI      atomic.Int64
	// plis counts keyframe requests sent; dropped counts video frames
	// dropped as malformed or too large.
	plis    atomic.Uint64
	dropped atomic.Uint64
}

// newMediaSession wires pc's callbacks to a session for stream st. Call it
// before applying any session description, so no track is missed.
func newMediaSession(st *ingest.Stream, pc *pion.PeerConnection, cfg sessionConfig, log *slog.Logger) *mediaSession {
	ctx, cancel := context.WithCancelCause(st.Context())
	s := &mediaSession{st: st, pc: pc, log: log, cfg: cfg, ctx: ctx, cancel: cancel, started: make(chan struct{})}
	pc.OnTrack(s.onTrack)
	pc.OnConnectionStateChange(func(state pion.PeerConnectionState) {
		switch state {
		case pion.PeerConnectionStateFailed:
			s.cancel(fmt.Errorf("%w: ICE or DTLS failed", ErrPeerGone))
		case pion.PeerConnectionStateClosed:
			s.peerClosed()
		}
	})
	return s
}

// peerClosed records that the peer, not the node, closed the connection
// (a DTLS close_notify), which for a WHEP source means the stream ended.
func (s *mediaSession) peerClosed() {
	s.mu.Lock()
	ours := s.closing
	s.mu.Unlock()
	if !ours {
		s.remoteClosed.Store(true)
		s.cancel(fmt.Errorf("%w by the peer", ErrPeerGone))
	}
}

// run waits until video flows (or setup times out), then until the session
// must end, and tears it down: the peer connection closes (the peer sees
// its DTLS session end), the readers stop and the stream ends. onStarted,
// when set, is called once video flows. run returns the cause.
func (s *mediaSession) run(setup time.Duration, onStarted func()) error {
	timer := time.NewTimer(setup)
	select {
	case <-s.started:
		if onStarted != nil {
			onStarted()
		}
	case <-timer.C:
		s.cancel(fmt.Errorf("%w after %s", ErrSetupTimeout, setup))
	case <-s.ctx.Done():
	}
	timer.Stop()
	<-s.ctx.Done()
	cause := context.Cause(s.ctx)

	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	if err := s.pc.Close(); err != nil {
		s.log.Debug("closing peer connection", "err", err)
	}
	s.readers.Wait()
	s.st.End(cause)
	return cause
}

// end asks the session to end with cause.
func (s *mediaSession) end(cause error) { s.cancel(cause) }

func (s *mediaSession) onTrack(t *pion.TrackRemote, _ *pion.RTPReceiver) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.readers.Add(1)
	s.mu.Unlock()
	defer s.readers.Done()
	// A depacketizer bug must cost this session, not the node.
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("track reader panicked", "panic", p, "stack", string(debug.Stack()))
			s.cancel(fmt.Errorf("track reader panicked: %v", p))
		}
	}()

	if t.Kind() != pion.RTPCodecTypeVideo || !s.video.CompareAndSwap(false, true) {
		// Audio, and any video past the first track, are read and
		// dropped so that pion's buffers never fill.
		s.discard(t)
		return
	}
	codec, ok := codecFor(t.Codec().MimeType)
	if !ok {
		s.cancel(fmt.Errorf("%w: negotiated %s", ErrNoVideo, t.Codec().MimeType))
		return
	}
	s.log.Info("video track", "codec", codec.String(), "ssrc", uint32(t.SSRC()))
	s.readVideo(t, codec)
}

func (s *mediaSession) discard(t *pion.TrackRemote) {
	buf := make([]byte, receiveMTU)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

func (s *mediaSession) readVideo(t *pion.TrackRemote, codec sampler.Codec) {
	ssrc := uint32(t.SSRC())
	d := newDepacketizer(codec, s.cfg.maxFrame)
	s.st.StartVideo(sampler.Params{Codec: codec}, s.cfg.queue)
	s.st.SetKeyframeRequester(func() bool { return s.requestKeyframe(ssrc, false) })
	s.requestKeyframe(ssrc, true)
	s.startOnce.Do(func() { close(s.started) })

	seenKey := false
	emit := func(au sampler.AccessUnit) {
		seenKey = seenKey || au.Key
		s.st.Push(au)
	}
	defer func() { s.dropped.Store(d.Dropped) }()
	buf := make([]byte, receiveMTU)
	for {
		_ = t.SetReadDeadline(time.Now().Add(s.cfg.readTimeout))
		n, _, err := t.Read(buf)
		if err != nil {
			// The track's buffer reports EOF only once the connection is
			// closed: by the node (then closing is set) or by the peer's
			// close_notify, which may reach the reader before pion
			// reports the state change.
			if errors.Is(err, io.EOF) {
				s.peerClosed()
			}
			s.cancel(fmt.Errorf("%w: reading video: %v", ErrPeerGone, err))
			return
		}
		// The sample builder keeps packets until their frame is whole, so
		// each gets its own copy of the bytes.
		pkt := &rtp.Packet{}
		if err := pkt.Unmarshal(bytes.Clone(buf[:n])); err != nil {
			d.Dropped++
			continue
		}
		gap := d.push(pkt, time.Now(), emit)
		if gap || !seenKey {
			// Until the first keyframe, and after frames were lost,
			// nothing decodes until a keyframe: ask for one.
			s.requestKeyframe(ssrc, false)
		}
	}
}

// requestKeyframe sends a PLI for ssrc unless one went out less than
// pliInterval ago, and reports whether a request stands.
func (s *mediaSession) requestKeyframe(ssrc uint32, force bool) bool {
	now := time.Now().UnixNano()
	last := s.lastPLI.Load()
	if !force && now-last < int64(pliInterval) {
		return true
	}
	if !s.lastPLI.CompareAndSwap(last, now) {
		return true
	}
	if err := s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		return false
	}
	s.plis.Add(1)
	return true
}
