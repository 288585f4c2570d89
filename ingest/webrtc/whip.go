package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/ingest"
)

// deleteWait bounds how long a DELETE waits for its session to be torn
// down before answering.
const deleteWait = 5 * time.Second

// Server is a WHIP endpoint (RFC 9725). Mount Handler under its prefix on
// an HTTP server; Close ends every session and waits for them.
type Server struct {
	cfg    Config
	eng    *Engine
	reg    *ingest.Registry
	log    *slog.Logger
	prefix string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	pending  int
	sessions map[string]*whipSession
}

type whipSession struct {
	id     string
	stream string
	ms     *mediaSession
	done   chan struct{}
}

// NewServer returns a WHIP server whose streams are registered in reg and
// whose resources live under prefix (e.g. "/whip/").
func NewServer(cfg Config, eng *Engine, reg *ingest.Registry, prefix string, log *slog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg.withDefaults(), eng: eng, reg: reg, log: log.With("proto", "whip"), prefix: prefix,
		ctx: ctx, cancel: cancel, sessions: make(map[string]*whipSession),
	}
}

// Handler serves POST PREFIX{stream}, DELETE, PATCH and OPTIONS on
// PREFIX{stream}/{session}, and OPTIONS on both.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+s.prefix+"{stream}", s.guard(s.post))
	mux.HandleFunc("OPTIONS "+s.prefix+"{stream}", s.options)
	mux.HandleFunc("DELETE "+s.prefix+"{stream}/{session}", s.guard(s.delete))
	mux.HandleFunc("PATCH "+s.prefix+"{stream}/{session}", s.guard(s.patch))
	mux.HandleFunc("OPTIONS "+s.prefix+"{stream}/{session}", s.options)
	return mux
}

// Sessions is the number of WHIP sessions, set up or setting up.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Pending is the number of sessions still setting up.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Close ends every session with ingest.ErrShutdown and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// guard recovers a handler's panic and sets the CORS headers every
// response needs.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("WHIP handler panicked", "panic", p, "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		w.Header().Set("Access-Control-Allow-Origin", s.cfg.AllowOrigin)
		w.Header().Set("Access-Control-Expose-Headers", "Location, ETag")
		h(w, r)
	}
}

func (s *Server) options(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", s.cfg.AllowOrigin)
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, PATCH, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, ETag")
	h.Set("Access-Control-Max-Age", "86400")
	if r.PathValue("session") == "" {
		h.Set("Accept-Post", "application/sdp")
	}
	w.WriteHeader(http.StatusNoContent)
}

// refuse answers with status and a one-line reason.
func refuse(w http.ResponseWriter, status int, err error) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="whip"`)
	}
	http.Error(w, err.Error(), status)
}

func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	log := s.log.With("remote", r.RemoteAddr)
	if !s.cfg.Tokens.Allow(name, r.Header.Get("Authorization")) {
		log.Info("WHIP offer refused", "stream", name, "reason", ErrUnauthorized)
		refuse(w, http.StatusUnauthorized, ErrUnauthorized)
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/sdp" {
		refuse(w, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want application/sdp", r.Header.Get("Content-Type")))
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		refuse(w, http.StatusRequestEntityTooLarge, fmt.Errorf("offer of %d bytes: at most %d", r.ContentLength, s.cfg.MaxBodyBytes))
		return
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(w, http.StatusRequestEntityTooLarge, fmt.Errorf("offer over %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		refuse(w, http.StatusBadRequest, fmt.Errorf("reading offer: %w", err))
		return
	}
	if err := checkOffer(offer); err != nil {
		log.Info("WHIP offer refused", "stream", name, "reason", err)
		refuse(w, http.StatusBadRequest, err)
		return
	}
	if err := s.reserve(); err != nil {
		w.Header().Set("Retry-After", "1")
		refuse(w, http.StatusServiceUnavailable, err)
		return
	}
	reserved := true
	defer func() {
		if reserved {
			s.release()
		}
	}()

	// The node's admission step (blocklist, rate, credentials, limits)
	// runs before any media flows; the bearer token is the key.
	token, _ := BearerToken(r.Header.Get("Authorization"))
	req := ingest.Request{Protocol: "whip", Name: name, Key: token, Remote: r.RemoteAddr}
	actx, cancel := context.WithTimeout(r.Context(), s.cfg.SetupTimeout)
	err = s.reg.Admit(actx, req)
	cancel()
	if err == nil {
		var st0 *ingest.Stream
		st0, err = s.reg.Open(s.ctx, req)
		if err == nil {
			s.opened(w, r, name, offer, st0, log, &reserved)
			return
		}
	}
	log.Info("WHIP offer refused", "stream", name, "reason", err)
	refuse(w, admissionStatus(err), err)
}

// admissionStatus answers a refused offer in HTTP terms.
func admissionStatus(err error) int {
	switch {
	case errors.Is(err, ingest.ErrBadStreamName):
		return http.StatusBadRequest
	case errors.Is(err, ingest.ErrStreamExists):
		return http.StatusConflict
	case errors.Is(err, ingest.ErrBadCredentials):
		return http.StatusUnauthorized
	case errors.Is(err, ingest.ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, ingest.ErrNodeFull), errors.Is(err, ingest.ErrAuthUnavailable), errors.Is(err, ingest.ErrKeyLimit):
		return http.StatusServiceUnavailable
	default:
		return http.StatusForbidden
	}
}

// opened sets up the peer connection of an admitted offer and answers it.
func (s *Server) opened(w http.ResponseWriter, r *http.Request, name string, offer []byte, st *ingest.Stream, log *slog.Logger, reserved *bool) {
	pc, err := s.eng.api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		st.End(err)
		log.Error("creating peer connection", "err", err)
		refuse(w, http.StatusInternalServerError, errors.New("cannot create a peer connection"))
		return
	}
	log = log.With("stream", st.ID, "session", st.Session)
	ws := &whipSession{id: newResourceID(), stream: name, done: make(chan struct{})}
	ws.ms = newMediaSession(st, pc, sessionConfig{queue: s.cfg.Queue, maxFrame: s.cfg.MaxFrameBytes, readTimeout: s.cfg.ReadTimeout}, log)
	if !s.add(ws) {
		ws.ms.end(ingest.ErrShutdown)
		_ = ws.ms.run(0, nil)
		refuse(w, http.StatusServiceUnavailable, ingest.ErrShutdown)
		return
	}
	*reserved = false // the session's owner releases it now
	go func() {
		defer s.wg.Done()
		s.own(ws, log)
	}()

	answer, err := s.negotiate(r.Context(), ws.ms, string(offer))
	if err != nil {
		ws.ms.end(err)
		<-ws.done
		status := http.StatusBadRequest
		if !errors.Is(err, ErrBadOffer) && !errors.Is(err, ErrNoVideo) {
			status = http.StatusServiceUnavailable
		}
		log.Info("WHIP offer refused", "reason", err)
		refuse(w, status, err)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", s.prefix+url.PathEscape(name)+"/"+ws.id)
	w.Header().Set("ETag", strconv.Quote(ws.id))
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// negotiate applies the offer and returns the answer with every candidate
// gathered (no trickle ICE).
func (s *Server) negotiate(ctx context.Context, ms *mediaSession, offer string) (string, error) {
	pc := ms.pc
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("gathering candidates: %w", ctx.Err())
	case <-ms.ctx.Done():
		return "", context.Cause(ms.ctx)
	}
	local := pc.LocalDescription()
	if local == nil || !answerReceivesVideo(local.SDP) {
		return "", fmt.Errorf("%w: none of the offered video formats is one the node decodes", ErrNoVideo)
	}
	return local.SDP, nil
}

// own runs a session to its end and forgets it.
func (s *Server) own(ws *whipSession, log *slog.Logger) {
	defer close(ws.done)
	released := false
	release := func() {
		if !released {
			released = true
			s.release()
		}
	}
	log.Info("WHIP session started")
	cause := ws.ms.run(s.cfg.SetupTimeout, release)
	release()
	s.mu.Lock()
	delete(s.sessions, ws.id)
	s.mu.Unlock()
	if errors.Is(cause, context.Canceled) {
		cause = ingest.ErrShutdown
	}
	log.Info("WHIP session ended", "reason", cause, "plis", ws.ms.plis.Load(), "frames_dropped", ws.ms.dropped.Load())
}

// reserve counts a session setting up, within MaxPending.
func (s *Server) reserve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ingest.ErrShutdown
	case s.pending >= s.cfg.MaxPending:
		return fmt.Errorf("%w (%d)", ErrTooManySessions, s.cfg.MaxPending)
	}
	s.pending++
	return nil
}

func (s *Server) release() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

// add registers a session and counts its owner in wg, unless the server
// is closed: counting under the lock keeps Add from racing Close's Wait.
func (s *Server) add(ws *whipSession) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sessions[ws.id] = ws
	s.wg.Add(1)
	return true
}

// lookup finds the session a DELETE or PATCH names, after checking the
// caller may act on its stream.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *whipSession {
	name := r.PathValue("stream")
	if !s.cfg.Tokens.Allow(name, r.Header.Get("Authorization")) {
		refuse(w, http.StatusUnauthorized, ErrUnauthorized)
		return nil
	}
	s.mu.Lock()
	ws := s.sessions[r.PathValue("session")]
	s.mu.Unlock()
	if ws == nil || ws.stream != name {
		refuse(w, http.StatusNotFound, errors.New("no such WHIP session"))
		return nil
	}
	return ws
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	ws := s.lookup(w, r)
	if ws == nil {
		return
	}
	ws.ms.end(ErrSessionDeleted)
	select {
	case <-ws.done:
	case <-time.After(deleteWait):
	}
	w.WriteHeader(http.StatusOK)
}

// patch answers 405: the node gathers every candidate before answering
// and does not restart ICE, which RFC 9725 allows.
func (s *Server) patch(w http.ResponseWriter, r *http.Request) {
	if s.lookup(w, r) == nil {
		return
	}
	w.Header().Set("Allow", "DELETE, OPTIONS")
	refuse(w, http.StatusMethodNotAllowed, errors.New("trickle ICE and ICE restarts are not supported; send every candidate in the offer"))
}

func newResourceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
