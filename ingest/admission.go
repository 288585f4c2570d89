package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// ErrRefused is the cause of every admission refusal; the refusal's error
// wraps it with the reason.
var ErrRefused = errors.New("ingest: publisher refused")

// What a refusal was for, so a protocol can answer in its own terms (WHIP:
// 401, 403, 429, 503). A refusal wraps ErrRefused and one of these.
var (
	ErrBlocklisted     = errors.New("blocklisted")
	ErrRateLimited     = errors.New("too many attempts")
	ErrBadCredentials  = errors.New("bad credentials")
	ErrAuthUnavailable = errors.New("auth service unavailable")
	ErrNodeFull        = errors.New("node full")
	ErrKeyLimit        = errors.New("key at its stream limit")
)

// Request describes a publisher (or a join) asking to start a stream,
// before any media is read.
type Request struct {
	Protocol string // rtmp, whip, whep, pull
	Name     string // stream name as given
	ID       string // stream id (StreamID(Name))
	// Key is the credential presented: the RTMP stream key (the path's
	// stream name or its ?key= / ?token= query) or the WHIP bearer token.
	Key    string
	Remote string // remote address (host:port), or the URL of a join
}

// Admitter decides whether a stream may start. It returns nil to admit
// and an error wrapping ErrRefused, with the reason, to refuse. It runs on
// the connection's goroutine and must honour ctx's deadline.
type Admitter func(ctx context.Context, req Request) error

// SetAdmitter installs the admission step every protocol runs through
// Admit before its stream is opened. Set it before the first Open.
func (r *Registry) SetAdmitter(a Admitter) { r.admit = a }

// Admit runs the admission step for req; without an admitter every request
// is admitted.
func (r *Registry) Admit(ctx context.Context, req Request) error {
	if req.ID == "" {
		id, err := StreamID(req.Name)
		if err != nil {
			return err
		}
		req.ID = id
	}
	if r.admit != nil {
		if err := r.admit(ctx, req); err != nil {
			if r.onRefused != nil {
				r.onRefused(req, err)
			}
			return err
		}
	}
	return nil
}

// KeyHash is the SHA-256, in hex, of a credential a publisher presented:
// how streams, events and blocklists name a stream key without holding
// or spreading the key itself.
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
