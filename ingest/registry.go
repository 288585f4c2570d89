package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Registry holds the node's live streams by id and is their kill switch.
// Its methods are safe for concurrent use; it never calls out while holding
// its lock.
type Registry struct {
	consumer   Consumer
	onEnded    func(*Stream)
	onStarted  func(*Stream)
	onRefused  func(Request, error)
	admit      Admitter
	maxBitrate int

	mu      sync.Mutex
	streams map[string]*Stream
}

// SetMaxBitrate makes every stream opened afterwards end itself, with a
// reason, when its coded video exceeds bps bits per second over 5 s.
func (r *Registry) SetMaxBitrate(bps int) { r.maxBitrate = bps }

// OnEnded sets a function called once for every stream after it has ended
// and its stages have stopped (for totals and events). Set it before the
// first Open.
func (r *Registry) OnEnded(fn func(*Stream)) { r.onEnded = fn }

// OnStarted sets a function called once for every stream right after it is
// registered, before any of its media is read (for events). Set it before
// the first Open.
func (r *Registry) OnStarted(fn func(*Stream)) { r.onStarted = fn }

// OnRefused sets a function called for every request the admission step
// refuses, with the refusal (for events). Set it before the first Admit.
func (r *Registry) OnRefused(fn func(Request, error)) { r.onRefused = fn }

// NewRegistry returns an empty registry whose streams run consumer.
func NewRegistry(consumer Consumer) *Registry {
	return &Registry{consumer: consumer, streams: make(map[string]*Stream)}
}

// Open registers a new stream for an admitted request. A second publisher
// on a live name is refused with ErrStreamExists. The stream's context
// derives from ctx, so cancelling ctx ends every stream.
func (r *Registry) Open(ctx context.Context, req Request) (*Stream, error) {
	id, err := StreamID(req.Name)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	s := &Stream{
		Info: Info{
			ID: id, Name: req.Name, Session: newSession(),
			Protocol: req.Protocol, Remote: req.Remote, Started: time.Now(),
		},
		reg: r, ctx: sctx, cancel: cancel, consumer: r.consumer,
		done: make(chan struct{}), maxBitrate: r.maxBitrate,
	}
	r.mu.Lock()
	if _, ok := r.streams[id]; ok {
		r.mu.Unlock()
		cancel(ErrStreamExists)
		return nil, fmt.Errorf("%w: %s", ErrStreamExists, id)
	}
	if req.Key != "" {
		s.KeyHash = KeyHash(req.Key)
	}
	r.streams[id] = s
	r.mu.Unlock()
	if r.onStarted != nil {
		r.onStarted(s)
	}
	return s, nil
}

func (r *Registry) remove(s *Stream) {
	r.mu.Lock()
	if r.streams[s.ID] == s {
		delete(r.streams, s.ID)
	}
	r.mu.Unlock()
	if r.onEnded != nil {
		r.onEnded(s)
	}
}

// CloseAll ends every live stream with reason as its cause.
func (r *Registry) CloseAll(reason error) {
	for _, s := range r.List() {
		s.Close(reason)
	}
}

// Get returns the live stream with id, or nil.
func (r *Registry) Get(id string) *Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[id]
}

// List returns the live streams ordered by id.
func (r *Registry) List() []*Stream {
	r.mu.Lock()
	out := make([]*Stream, 0, len(r.streams))
	for _, s := range r.streams {
		out = append(out, s)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b *Stream) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Close ends the live stream with id with reason as its cause. When session
// is not empty only that session is ended. It reports whether a stream was
// found.
func (r *Registry) Close(id, session string, reason error) bool {
	s := r.Get(id)
	if s == nil || (session != "" && s.Session != session) {
		return false
	}
	s.Close(reason)
	return true
}

// Len is the number of live streams.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.streams)
}
