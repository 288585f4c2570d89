package rtmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/ratelog"
	"github.com/vigilstream/vigil/sampler"
)

// Config is the RTMP server's configuration.
type Config struct {
	// Addr is the TCP listen address, e.g. ":1935".
	Addr string
	// App is the application publishers push to: rtmp://HOST/APP/STREAM.
	App string
	// HandshakeTimeout bounds the handshake, connect and publish commands.
	HandshakeTimeout time.Duration
	// ReadTimeout bounds each read once media flows; a publisher silent
	// for longer is dropped.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write to the publisher.
	WriteTimeout time.Duration
	// InitBudget bounds the bytes a publisher may send before its video
	// track is known.
	InitBudget int64
	// Queue is the number of access units that may wait for the decoder.
	Queue int
}

// DefaultConfig is what `vigil serve` uses unless told otherwise.
var DefaultConfig = Config{
	Addr:             ":1935",
	App:              "live",
	HandshakeTimeout: 10 * time.Second,
	ReadTimeout:      10 * time.Second,
	WriteTimeout:     5 * time.Second,
	InitBudget:       32 << 20,
	Queue:            64,
}

// Server accepts RTMP publishers.
type Server struct {
	cfg Config
	reg *ingest.Registry
	log *slog.Logger
	// refusals logs refused connections at most once a second: a flood of
	// garbage or bad keys must not flood the log.
	refusals *ratelog.Logger

	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a server that registers its streams in reg.
func New(cfg Config, reg *ingest.Registry, log *slog.Logger) *Server {
	if cfg.App == "" {
		cfg.App = DefaultConfig.App
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultConfig.Queue
	}
	log = log.With("proto", "rtmp")
	return &Server{cfg: cfg, reg: reg, log: log, refusals: ratelog.New(log, time.Second)}
}

// Listen binds the listen address; Serve then accepts on it.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("rtmp: listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound listen address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until ctx ends, then closes every connection it
// accepted and waits for their handlers.
func (s *Server) Serve(ctx context.Context) error {
	s.ctx, s.cancel = context.WithCancel(ctx)
	defer s.wg.Wait()
	defer s.cancel()
	stop := context.AfterFunc(s.ctx, func() { s.ln.Close() })
	defer stop()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("rtmp: accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(conn)
		}()
	}
}

func (s *Server) handle(nc net.Conn) {
	log := s.log.With("remote", nc.RemoteAddr().String())
	conn := newBudgetConn(nc, s.cfg.InitBudget)
	defer conn.Close()
	// A parser bug in a dependency must cost one connection, not the node
	// and every other stream on it.
	defer func() {
		if p := recover(); p != nil {
			log.Error("connection handler panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	// Shutdown closes the socket, which unblocks any read in progress.
	stop := context.AfterFunc(s.ctx, func() { nc.Close() })
	defer stop()

	sc, st, err := s.accept(conn)
	if err != nil {
		s.refusals.Info("connection refused", "remote", nc.RemoteAddr().String(), "reason", err)
		return
	}
	log = log.With("stream", st.ID, "session", st.Session)
	log.Info("stream started")
	err = s.publish(conn, sc, st)
	cause := context.Cause(st.Context())
	st.End(err)
	switch {
	case cause != nil && !errors.Is(cause, context.Canceled):
		log.Info("stream ended", "reason", cause)
	case err != nil:
		log.Info("stream ended", "reason", err)
	default:
		log.Info("stream ended")
	}
}

// accept runs the handshake and the commands up to publish, and registers
// the stream. A refused publisher is told so before the socket closes.
func (s *Server) accept(conn *budgetConn) (*gortmplib.ServerConn, *ingest.Stream, error) {
	_ = conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	sc := &gortmplib.ServerConn{RW: conn}
	if err := sc.Initialize(); err != nil {
		return nil, nil, fmt.Errorf("handshake: %w", err)
	}
	if err := sc.AcceptConn(); err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	if !sc.Publish {
		_ = sc.RejectAction()
		return nil, nil, errors.New("play is not offered; this node only ingests")
	}
	name, err := s.streamName(sc)
	if err != nil {
		_ = sc.RejectAction()
		return nil, nil, err
	}
	// Admission runs before any media is read; the connection's deadline
	// bounds it.
	actx, cancel := context.WithDeadline(s.ctx, time.Now().Add(s.cfg.HandshakeTimeout))
	req := ingest.Request{Protocol: "rtmp", Name: name, Key: streamKey(sc, name), Remote: conn.RemoteAddr().String()}
	err = s.reg.Admit(actx, req)
	cancel()
	if err != nil {
		_ = sc.RejectAction()
		return nil, nil, err
	}
	st, err := s.reg.Open(s.ctx, req)
	if err != nil {
		_ = sc.RejectAction()
		return nil, nil, err
	}
	return sc, st, nil
}

// streamKey is the credential an RTMP publisher presents: ?key= or ?token=
// in the publish URL, or else the stream name itself (OBS's "stream key"
// field ends up as the last path element).
func streamKey(sc *gortmplib.ServerConn, name string) string {
	q := sc.URL.Query()
	for _, k := range []string{"key", "token"} {
		if v := q.Get(k); v != "" {
			return v
		}
	}
	return name
}

// streamName takes the stream name from the publish URL /APP/NAME.
func (s *Server) streamName(sc *gortmplib.ServerConn) (string, error) {
	path := strings.TrimPrefix(sc.URL.Path, "/")
	app, name, ok := strings.Cut(path, "/")
	if !ok || app != s.cfg.App {
		return "", fmt.Errorf("publish to %q refused: want /%s/STREAM", sc.URL.Path, s.cfg.App)
	}
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("%w: %q", ingest.ErrBadStreamName, name)
	}
	return name, nil
}

// publish reads the stream's tracks and then its media until the
// connection fails or the stream is told to end.
func (s *Server) publish(conn *budgetConn, sc *gortmplib.ServerConn, st *ingest.Stream) error {
	// A block (or shutdown) ends the stream by closing its socket, which
	// ends the read below at once.
	stop := context.AfterFunc(st.Context(), func() { conn.Close() })
	defer stop()

	_ = conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	// The reader gets a guard in front of the connection, so it must be
	// told to accept the publish itself.
	if err := sc.AcceptAction(); err != nil {
		return fmt.Errorf("accept publish: %w", err)
	}
	guard := &codecGuard{Conn: sc}
	r := &gortmplib.Reader{Conn: guard}
	if err := r.Initialize(); err != nil {
		return explainTrackError(err)
	}
	conn.lift()

	var video *gortmplib.Track
	for _, t := range r.Tracks() {
		if t.Codec.IsVideo() && video == nil {
			video = t
			continue
		}
		ignoreTrack(r, t)
	}
	if video == nil {
		return fmt.Errorf("%w: no video track", ingest.ErrUnsupportedMedia)
	}
	guard.expect(video.Codec)
	push := func(pts time.Duration, au sampler.AccessUnit) {
		au.PTS, au.Arrival = pts, time.Now()
		st.Push(au)
	}
	switch c := video.Codec.(type) {
	case *codecs.H264:
		st.StartVideo(sampler.Params{Codec: sampler.H264, SPS: c.SPS, PPS: c.PPS}, s.cfg.Queue)
		r.OnDataH264(video, func(pts, _ time.Duration, au [][]byte) {
			push(pts, sampler.AccessUnit{Key: sampler.H264IsKey(au), NALUs: au})
		})
	case *codecs.H265:
		st.StartVideo(sampler.Params{Codec: sampler.HEVC, VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}, s.cfg.Queue)
		r.OnDataH265(video, func(pts, _ time.Duration, au [][]byte) {
			push(pts, sampler.AccessUnit{Key: sampler.HEVCIsKey(au), NALUs: au})
		})
	case *codecs.VP9:
		st.StartVideo(sampler.Params{Codec: sampler.VP9}, s.cfg.Queue)
		r.OnDataVP9(video, func(pts time.Duration, frame []byte) {
			push(pts, sampler.AccessUnit{Key: sampler.VP9IsKey(frame), Frame: frame})
		})
	case *codecs.AV1:
		st.StartVideo(sampler.Params{Codec: sampler.AV1}, s.cfg.Queue)
		r.OnDataAV1(video, func(pts time.Duration, tu [][]byte) {
			// dav1d takes the low-overhead format: OBUs with sizes.
			frame, err := av1.Bitstream(tu).Marshal()
			if err != nil {
				return
			}
			push(pts, sampler.AccessUnit{Key: sampler.AV1IsKey(frame), Frame: frame})
		})
	default:
		return fmt.Errorf("%w: video codec %s", ingest.ErrUnsupportedMedia, codecName(video.Codec))
	}

	for {
		now := time.Now()
		_ = conn.SetReadDeadline(now.Add(s.cfg.ReadTimeout))
		_ = conn.SetWriteDeadline(now.Add(s.cfg.WriteTimeout))
		if err := r.Read(); err != nil {
			return err
		}
	}
}

// ignoreTrack registers a callback that drops a track's data: gortmplib
// needs one for every track it announced.
func ignoreTrack(r *gortmplib.Reader, t *gortmplib.Track) {
	switch t.Codec.(type) {
	case *codecs.H264:
		r.OnDataH264(t, func(time.Duration, time.Duration, [][]byte) {})
	case *codecs.H265:
		r.OnDataH265(t, func(time.Duration, time.Duration, [][]byte) {})
	case *codecs.AV1:
		r.OnDataAV1(t, func(time.Duration, [][]byte) {})
	case *codecs.VP9:
		r.OnDataVP9(t, func(time.Duration, []byte) {})
	case *codecs.Opus:
		r.OnDataOpus(t, func(time.Duration, []byte) {})
	case *codecs.FLAC:
		r.OnDataFLAC(t, func(time.Duration, []byte) {})
	case *codecs.MPEG4Audio:
		r.OnDataMPEG4Audio(t, func(time.Duration, []byte) {})
	case *codecs.MPEG1Audio:
		r.OnDataMPEG1Audio(t, func(time.Duration, []byte) {})
	case *codecs.AC3:
		r.OnDataAC3(t, func(time.Duration, []byte) {})
	case *codecs.G711:
		r.OnDataG711(t, func(time.Duration, []byte) {})
	case *codecs.LPCM:
		r.OnDataLPCM(t, func(time.Duration, []byte) {})
	}
}

func codecName(c codecs.Codec) string {
	switch c.(type) {
	case *codecs.H264:
		return "H.264"
	case *codecs.H265:
		return "HEVC"
	case *codecs.AV1:
		return "AV1"
	case *codecs.VP9:
		return "VP9"
	default:
		return fmt.Sprintf("%T", c)
	}
}

// Close closes the listener; use it when Serve was never called.
func (s *Server) Close() error { return s.ln.Close() }

// flvVideoCodecs names the FLV video codec ids a legacy publisher may send.
var flvVideoCodecs = map[int]string{
	2: "Sorenson H.263", 3: "Screen Video", 4: "VP6", 5: "VP6 with alpha",
	6: "Screen Video 2", 7: "H.264", 12: "HEVC",
}

// explainTrackError turns gortmplib's track-probing errors into one an
// operator can act on. gortmplib reports an unknown FLV codec only as text.
func explainTrackError(err error) error {
	var id int
	msg := err.Error()
	if i := strings.Index(msg, "unsupported video codec: "); i >= 0 {
		if _, serr := fmt.Sscanf(msg[i:], "unsupported video codec: %d", &id); serr == nil {
			name := flvVideoCodecs[id]
			if name == "" {
				name = "unknown"
			}
			return fmt.Errorf("%w: video codec %s (FLV codec id %d); this node takes H.264, or HEVC, VP9 and AV1 over enhanced RTMP", ingest.ErrUnsupportedMedia, name, id)
		}
	}
	return fmt.Errorf("reading tracks: %w", err)
}
