package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// ErrRefused is the cause of every admission refusal; the refusal's error
// wraps it with the reason.
var ErrRefused = errors.New("ingest: publisher refused")

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
	if req.Key != "" {
		r.rememberKey(req)
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

// admissionKey identifies an admitted request until its stream opens: the
// remote address names the connection.
type admissionKey struct{ protocol, id, remote string }

type admittedKey struct {
	hash string
	at   time.Time
}

// admittedKeyTTL bounds how long an admission waits for its Open; the
// protocols open right after admitting, so older entries are abandoned.
const admittedKeyTTL = time.Minute

func (r *Registry) rememberKey(req Request) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range r.keys {
		if now.Sub(v.at) > admittedKeyTTL {
			delete(r.keys, k)
		}
	}
	r.keys[admissionKey{req.Protocol, req.ID, req.Remote}] = admittedKey{KeyHash(req.Key), now}
}
