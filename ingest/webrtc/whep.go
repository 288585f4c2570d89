package webrtc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/ingest"
)

// ClientConfig is the WHEP client's configuration.
type ClientConfig struct {
	// SetupTimeout bounds the time from the offer to the first video
	// packet.
	SetupTimeout time.Duration
	// ReadTimeout treats a source whose video stops for this long as lost.
	ReadTimeout time.Duration
	// RequestTimeout bounds each HTTP request to the WHEP server.
	RequestTimeout time.Duration
	// MaxAnswerBytes bounds the server's SDP answer.
	MaxAnswerBytes int64
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts; it doubles after each failure.
	MinBackoff, MaxBackoff time.Duration
	// GiveUpAfter ends a join whose attempts have failed for this long.
	GiveUpAfter time.Duration
	// Queue and MaxFrameBytes are as in Config.
	Queue         int
	MaxFrameBytes int
	// HTTPClient makes the WHEP requests (default: one without a global
	// timeout; RequestTimeout bounds each request).
	HTTPClient *http.Client
}

// DefaultClientConfig is what the node uses unless told otherwise.
var DefaultClientConfig = ClientConfig{
	SetupTimeout:   10 * time.Second,
	ReadTimeout:    10 * time.Second,
	RequestTimeout: 10 * time.Second,
	MaxAnswerBytes: 64 << 10,
	MinBackoff:     time.Second,
	MaxBackoff:     30 * time.Second,
	GiveUpAfter:    5 * time.Minute,
	Queue:          64,
	MaxFrameBytes:  4 << 20,
}

func (c ClientConfig) withDefaults() ClientConfig {
	d := DefaultClientConfig
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&c.SetupTimeout, d.SetupTimeout)
	set(&c.ReadTimeout, d.ReadTimeout)
	set(&c.RequestTimeout, d.RequestTimeout)
	set(&c.MinBackoff, d.MinBackoff)
	set(&c.MaxBackoff, d.MaxBackoff)
	set(&c.GiveUpAfter, d.GiveUpAfter)
	if c.MaxAnswerBytes <= 0 {
		c.MaxAnswerBytes = d.MaxAnswerBytes
	}
	if c.Queue <= 0 {
		c.Queue = d.Queue
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = d.MaxFrameBytes
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	return c
}

// Client joins WebRTC streams served elsewhere over WHEP, as a viewer, and
// samples them like hosted streams (protocol "whep"). Close stops every
// join and waits for them.
type Client struct {
	cfg ClientConfig
	eng *Engine
	reg *ingest.Registry
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

// NewClient returns a WHEP client whose streams are registered in reg.
func NewClient(cfg ClientConfig, eng *Engine, reg *ingest.Registry, log *slog.Logger) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{cfg: cfg.withDefaults(), eng: eng, reg: reg, log: log.With("proto", "whep"), ctx: ctx, cancel: cancel}
}

// Close stops every join and waits for them.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}

// Join is one stream the node watches over WHEP, across reconnections.
type Join struct {
	// URL is the WHEP endpoint; Name the stream's name on this node.
	URL, Name string

	token     string
	cancel    context.CancelFunc
	connected chan struct{}
	connOnce  sync.Once
	done      chan struct{}
	err       error
}

// Connected is closed once video first flows.
func (j *Join) Connected() <-chan struct{} { return j.connected }

// Done is closed when the join is over: the source ended, the stream was
// blocked, the join was stopped, or reconnecting failed for too long.
func (j *Join) Done() <-chan struct{} { return j.done }

// Err is why the join ended; valid after Done. It wraps ErrSourceEnded
// when the source ended and ingest.ErrBlocked when the stream was blocked.
func (j *Join) Err() error {
	<-j.done
	return j.err
}

// Stop ends the join and waits for it.
func (j *Join) Stop() {
	j.cancel()
	<-j.done
}

// Join starts watching the WHEP stream at rawURL as stream name; token,
// when set, is sent as a bearer token. It returns at once; the first
// connection and every reconnection happen in the background.
func (c *Client) Join(rawURL, name, token string) (*Join, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webrtc: WHEP URL %q: want http(s)://HOST/PATH", rawURL)
	}
	if _, err := ingest.StreamID(name); err != nil {
		return nil, fmt.Errorf("webrtc: WHEP join %s: %w", rawURL, err)
	}
	if token != "" && !validToken(token) {
		return nil, fmt.Errorf("%w: WHEP token for %s", ErrBadToken, name)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	j := &Join{URL: u.String(), Name: name, token: token, cancel: cancel, connected: make(chan struct{}), done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		cancel()
		return nil, fmt.Errorf("webrtc: WHEP join %s: %w", name, ingest.ErrShutdown)
	}
	c.wg.Go(func() {
		defer close(j.done)
		defer cancel()
		j.err = c.loop(ctx, j)
	})
	return j, nil
}

// loop connects, and reconnects with backoff, until the join is over.
func (c *Client) loop(ctx context.Context, j *Join) error {
	id, _ := ingest.StreamID(j.Name) // checked by Join
	log := c.log.With("stream", id, "url", j.URL)
	backoff := c.cfg.MinBackoff
	var failingSince time.Time
	for {
		up, err := c.connect(ctx, j, log)
		switch {
		case ctx.Err() != nil:
			log.Info("WHEP join stopped")
			return ingest.ErrShutdown
		case errors.Is(err, ingest.ErrBlocked):
			log.Info("WHEP join ended: stream blocked", "reason", err)
			return err
		case errors.Is(err, ErrSourceEnded), errors.Is(err, errPermanent):
			log.Info("WHEP join ended", "reason", err)
			return err
		}
		now := time.Now()
		if up {
			backoff, failingSince = c.cfg.MinBackoff, time.Time{}
		}
		if failingSince.IsZero() {
			failingSince = now
		}
		if now.Sub(failingSince) >= c.cfg.GiveUpAfter {
			log.Warn("WHEP join given up", "reason", err, "failing_for", now.Sub(failingSince).Round(time.Second))
			return fmt.Errorf("webrtc: WHEP join %s: giving up after %s: %w", j.Name, now.Sub(failingSince).Round(time.Second), err)
		}
		log.Info("WHEP connection lost; reconnecting", "reason", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ingest.ErrShutdown
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// errPermanent marks a WHEP refusal that retrying will not change.
var errPermanent = errors.New("permanent")

// connect makes one connection and runs it to its end. up reports whether
// video flowed.
func (c *Client) connect(ctx context.Context, j *Join, log *slog.Logger) (up bool, err error) {
	pc, err := c.eng.api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return false, fmt.Errorf("webrtc: WHEP %s: peer connection: %w", j.Name, err)
	}
	owned := false
	defer func() {
		if !owned {
			_ = pc.Close()
		}
	}()
	for _, kind := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			return false, fmt.Errorf("webrtc: WHEP %s: transceiver: %w", j.Name, err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return false, fmt.Errorf("webrtc: WHEP %s: offer: %w", j.Name, err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return false, fmt.Errorf("webrtc: WHEP %s: offer: %w", j.Name, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return false, ctx.Err()
	}

	req := ingest.Request{Protocol: "whep", Name: j.Name, Remote: j.URL}
	if err := c.reg.Admit(ctx, req); err != nil {
		return false, fmt.Errorf("webrtc: WHEP %s: %w", j.Name, err)
	}
	st, err := c.reg.Open(ctx, req)
	if err != nil {
		return false, fmt.Errorf("webrtc: WHEP %s: %w", j.Name, err)
	}
	log = log.With("session", st.Session)
	ms := newMediaSession(st, pc, sessionConfig{queue: c.cfg.Queue, maxFrame: c.cfg.MaxFrameBytes, readTimeout: c.cfg.ReadTimeout}, log)
	owned = true

	answer, location, err := c.post(ctx, j, pc.LocalDescription().SDP)
	if err == nil {
		err = pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer})
		if err != nil {
			err = fmt.Errorf("webrtc: WHEP %s: answer: %w", j.Name, err)
		}
	}
	if err != nil {
		ms.end(err)
		_ = ms.run(0, nil)
		return false, err
	}
	log.Info("WHEP session started", "resource", location)
	cause := ms.run(c.cfg.SetupTimeout, func() {
		up = true
		j.connOnce.Do(func() { close(j.connected) })
	})
	if ms.remoteClosed.Load() {
		cause = fmt.Errorf("%w: the WHEP server closed the session", ErrSourceEnded)
	} else if location != "" {
		c.deleteResource(location, j.token)
	}
	log.Info("WHEP session ended", "reason", cause, "plis", ms.plis.Load(), "frames_dropped", ms.dropped.Load())
	return up, cause
}

// post sends the offer and returns the answer and the session resource.
func (c *Client) post(ctx context.Context, j *Join, offer string) (answer, location string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewBufferString(offer))
	if err != nil {
		return "", "", fmt.Errorf("webrtc: WHEP %s: %w", j.Name, err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if j.token != "" {
		req.Header.Set("Authorization", "Bearer "+j.token)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("webrtc: WHEP %s: %w", j.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxAnswerBytes+1))
	if err != nil {
		return "", "", fmt.Errorf("webrtc: WHEP %s: reading answer: %w", j.Name, err)
	}
	switch {
	case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return "", "", fmt.Errorf("%w: WHEP server answered %s", ErrSourceEnded, resp.Status)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusConflict:
		return "", "", fmt.Errorf("%w: %s: %s", ErrWHEP, resp.Status, firstLine(body))
	default:
		return "", "", fmt.Errorf("%w (%w): %s: %s", ErrWHEP, errPermanent, resp.Status, firstLine(body))
	}
	if int64(len(body)) > c.cfg.MaxAnswerBytes {
		return "", "", fmt.Errorf("%w (%w): answer over %d bytes", ErrWHEP, errPermanent, c.cfg.MaxAnswerBytes)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := resp.Request.URL.Parse(loc); err == nil {
			location = u.String()
		}
	}
	return string(body), location, nil
}

// deleteResource ends the session on the WHEP server, best effort.
func (c *Client) deleteResource(location, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location, nil)
	if err != nil {
		return
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}

// firstLine keeps an error body short in logs.
func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(bytes.TrimSpace(b))
}
