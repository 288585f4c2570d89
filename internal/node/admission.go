package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/ingest/webrtc"
	"github.com/vigilstream/vigil/internal/config"
)

// SubjectAuth is where the nats method asks the platform's auth service.
const SubjectAuth = "vigil.auth.publish"

// authQuestion is what the http and nats methods send the platform.
type authQuestion struct {
	Protocol   string `json:"protocol"`
	Stream     string `json:"stream"`
	StreamID   string `json:"stream_id"`
	Key        string `json:"key"`
	RemoteAddr string `json:"remote_addr"`
	Node       string `json:"node"`
}

// authAnswer is the nats method's reply; the http method uses the status
// code and reads the reason, when there is one, from the same shape.
type authAnswer struct {
	Allow  bool   `json:"allow"`
	Reason string `json:"reason"`
}

// admission is the node's one admission step, run by every protocol before
// any media is read: the blocklist first, then the publisher's credentials
// by the configured method, then the node's limits. Every refusal has a
// reason; every outcome is counted.
type admission struct {
	n          *Node
	method     string
	keys       map[string][]string
	whipTokens webrtc.Tokens
	client     *http.Client

	mu      sync.Mutex
	cache   map[[32]byte]cachedAnswer
	buckets map[string]*rateBucket
}

type cachedAnswer struct {
	err     error
	expires time.Time
}

type rateBucket struct {
	tokens float64
	last   time.Time
}

func newAdmission(n *Node) (*admission, error) {
	keys, err := config.ParseStreamKeys(n.cfg.StreamKeys)
	if err != nil {
		return nil, err
	}
	whip, err := webrtc.ParseTokens(n.cfg.WHIPTokens)
	if err != nil {
		return nil, err
	}
	a := &admission{
		n: n, method: n.cfg.Auth, keys: keys, whipTokens: whip,
		client:  &http.Client{Timeout: n.cfg.AuthTimeout},
		cache:   map[[32]byte]cachedAnswer{},
		buckets: map[string]*rateBucket{},
	}
	switch {
	case a.method == "none":
		n.log.Warn("admission: every publisher is admitted (--auth none); this node is an open relay")
	case a.method == "static" && len(keys) == 0 && whip.Empty():
		n.log.Warn("admission: no stream keys configured (--stream-keys): every publisher will be refused")
	}
	return a, nil
}

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ingest.ErrRefused}, args...)...)
}

// admit is the registry's Admitter.
func (a *admission) admit(ctx context.Context, req ingest.Request) error {
	err := a.decide(ctx, req)
	result, reason := "admitted", ""
	if err != nil {
		result, reason = "refused", refusalKind(err)
	}
	a.n.metrics.admissions.WithLabelValues(req.Protocol, result, reason).Inc()
	return err
}

func (a *admission) decide(ctx context.Context, req ingest.Request) error {
	if err := a.n.blocklisted(ctx, req); err != nil {
		return err
	}
	if err := a.rate(req); err != nil {
		return err
	}
	if err := a.credentials(ctx, req); err != nil {
		return err
	}
	return a.limits(req)
}

// refusalKind names a refusal for the metrics label: bounded, unlike the
// reasons themselves.
func refusalKind(err error) string {
	for _, k := range []struct {
		target error
		kind   string
	}{{errBlocked, "blocklist"}, {errRate, "rate"}, {errCredentials, "credentials"}, {errAuthUnavailable, "auth_unavailable"},
		{errFull, "capacity"}, {errKeyLimit, "key_limit"}, {ingest.ErrStreamExists, "name_in_use"}} {
		if errors.Is(err, k.target) {
			return k.kind
		}
	}
	return "other"
}

var (
	errBlocked         = ingest.ErrBlocklisted
	errRate            = ingest.ErrRateLimited
	errCredentials     = ingest.ErrBadCredentials
	errAuthUnavailable = ingest.ErrAuthUnavailable
	errFull            = ingest.ErrNodeFull
	errKeyLimit        = ingest.ErrKeyLimit
)

// rate limits admissions per remote host with a token bucket.
func (a *admission) rate(req ingest.Request) error {
	perMin := a.n.cfg.ConnectRate
	if perMin <= 0 || req.Protocol == "pull" || req.Protocol == "whep" {
		return nil
	}
	host, _, err := net.SplitHostPort(req.Remote)
	if err != nil {
		host = req.Remote
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.buckets) > 10000 {
		// Forget hosts whose buckets are full again.
		for h, b := range a.buckets {
			if now.Sub(b.last) > time.Minute {
				delete(a.buckets, h)
			}
		}
	}
	b := a.buckets[host]
	if b == nil {
		b = &rateBucket{tokens: float64(perMin), last: now}
		a.buckets[host] = b
	}
	b.tokens = min(float64(perMin), b.tokens+now.Sub(b.last).Minutes()*float64(perMin))
	b.last = now
	if b.tokens < 1 {
		return refused("%w: more than %d admissions a minute from %s", errRate, perMin, host)
	}
	b.tokens--
	return nil
}

func (a *admission) credentials(ctx context.Context, req ingest.Request) error {
	if req.Protocol == "pull" || req.Protocol == "whep" {
		// Joins come from the admin API or the fleet: already trusted.
		return nil
	}
	switch a.method {
	case "none":
		return nil
	case "static":
		return a.static(req)
	}
	q := authQuestion{Protocol: req.Protocol, Stream: req.Name, StreamID: req.ID, Key: req.Key, RemoteAddr: req.Remote, Node: a.n.cfg.NodeID}
	raw, _ := json.Marshal(q)
	ck := sha256.Sum256(append([]byte(a.method+"\x00"), raw...))
	now := time.Now()
	a.mu.Lock()
	if c, ok := a.cache[ck]; ok && now.Before(c.expires) {
		a.mu.Unlock()
		return c.err
	}
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, a.n.cfg.AuthTimeout)
	defer cancel()
	var err error
	if a.method == "http" {
		err = a.askHTTP(ctx, raw)
	} else {
		err = a.askNATS(ctx, raw)
	}
	if errors.Is(err, errAuthUnavailable) {
		if a.n.cfg.AuthFailOpen {
			a.n.log.Warn("admission: auth service did not answer; admitting (fail-open)", "stream", req.ID, "err", err)
			return nil
		}
		return err // not cached: the next attempt asks again
	}
	if a.n.cfg.AuthCache > 0 {
		a.mu.Lock()
		if len(a.cache) > 10000 {
			clear(a.cache)
		}
		a.cache[ck] = cachedAnswer{err: err, expires: now.Add(a.n.cfg.AuthCache)}
		a.mu.Unlock()
	}
	return err
}

func (a *admission) static(req ingest.Request) error {
	match := false
	for _, name := range []string{req.Name, "*"} {
		for _, k := range a.keys[name] {
			if subtle.ConstantTimeCompare([]byte(k), []byte(req.Key)) == 1 {
				match = true
			}
		}
	}
	// WHIP's own tokens (--whip-tokens) count as static keys for WHIP.
	if !match && req.Protocol == "whip" && !a.whipTokens.Empty() && a.whipTokens.Allow(req.Name, "Bearer "+req.Key) {
		match = true
	}
	if !match {
		return refused("%w: no matching stream key for %s", errCredentials, req.ID)
	}
	return nil
}

// askHTTP posts the question to the platform: 2xx admits, anything else
// refuses, no answer in time is "unavailable".
func (a *admission) askHTTP(ctx context.Context, body []byte) error {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, a.n.cfg.AuthURL, bytes.NewReader(body))
	if err != nil {
		return refused("%w: %v", errAuthUnavailable, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(hreq)
	if err != nil {
		return refused("%w: %v", errAuthUnavailable, err)
	}
	defer resp.Body.Close()
	var ans authAnswer
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&ans)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	if ans.Reason == "" {
		ans.Reason = resp.Status
	}
	return refused("%w: auth service said %q", errCredentials, ans.Reason)
}

// askNATS asks the platform's auth service over NATS request/reply.
func (a *admission) askNATS(ctx context.Context, body []byte) error {
	msg, err := a.n.bus.Conn().RequestWithContext(ctx, SubjectAuth, body)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return refused("%w: %v", errAuthUnavailable, err)
		}
		return refused("%w: %v", errAuthUnavailable, err)
	}
	var ans authAnswer
	if err := json.Unmarshal(msg.Data, &ans); err != nil {
		return refused("%w: unreadable answer: %v", errCredentials, err)
	}
	if !ans.Allow {
		if ans.Reason == "" {
			ans.Reason = "refused"
		}
		return refused("%w: auth service said %q", errCredentials, ans.Reason)
	}
	return nil
}

// limits applies the node's capacity: streams per node and per key, and
// stream-name takeover.
func (a *admission) limits(req ingest.Request) error {
	live := a.n.reg.List()
	if existing := a.n.reg.Get(req.ID); existing != nil && req.Protocol != "pull" && req.Protocol != "whep" {
		if !a.n.cfg.AllowTakeover {
			return fmt.Errorf("%w: %w: %s", ingest.ErrRefused, ingest.ErrStreamExists, req.ID)
		}
		// Takeover: the old publisher ends; the new one opens the name
		// once the old has freed it.
		existing.Close(fmt.Errorf("%w: taken over by %s", ingest.ErrRefused, req.Remote))
		select {
		case <-existing.Done():
		case <-time.After(5 * time.Second):
			return fmt.Errorf("%w: %w: %s (the publisher being taken over did not end)", ingest.ErrRefused, ingest.ErrStreamExists, req.ID)
		}
		live = a.n.reg.List()
	}
	if max := a.n.cfg.MaxStreams; max > 0 && len(live) >= max {
		return refused("%w: %d of %d streams live", errFull, len(live), max)
	}
	if max := a.n.cfg.MaxStreamsKey; max > 0 && req.Key != "" {
		kh := ingest.KeyHash(req.Key)
		held := 0
		for _, s := range live {
			if s.KeyHash == kh {
				held++
			}
		}
		if held >= max {
			return refused("%w: the key holds %d of %d streams", errKeyLimit, held, max)
		}
	}
	return nil
}
