package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/ratelog"
	"github.com/vigilstream/vigil/internal/signal"
)

// queuedEvent is a match or stream event waiting to be published. It holds
// the event itself; it is encoded by the publisher, off the detector's
// goroutine.
type queuedEvent struct {
	kind    string // match, started, ended, refused: the metrics label
	subject string
	id      string
	event   any
}

// queueEvent hands an event to the publisher without ever waiting: when
// the queue is full the event is dropped and counted. The detector calls
// it for every matching sample.
func (n *Node) queueEvent(e queuedEvent) {
	n.sig.eventsPending.Add(1)
	select {
	case n.sig.events <- e:
	default:
		n.sig.eventsPending.Add(-1)
		n.metrics.eventsDropped.WithLabelValues(e.kind, "queue_full").Inc()
	}
}

// runEvents publishes queued events one at a time with JetStream until ctx
// ends. Events are best-effort: one that NATS does not take in time is
// dropped and counted, and while NATS is down they are dropped at once.
func (n *Node) runEvents(ctx context.Context) {
	limited := ratelog.New(n.log.With("component", "events"), 5*time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-n.sig.events:
			n.publishEvent(ctx, e, limited)
			n.sig.eventsPending.Add(-1)
		}
	}
}

// publishEvent publishes one event, or drops and counts it.
func (n *Node) publishEvent(ctx context.Context, e queuedEvent, limited *ratelog.Logger) {
	if !n.bus.Connected() {
		n.metrics.eventsDropped.WithLabelValues(e.kind, "disconnected").Inc()
		return
	}
	raw, err := json.Marshal(e.event)
	if err == nil {
		err = n.bus.Publish(ctx, e.subject, e.id, raw)
	}
	if err != nil {
		n.metrics.eventsDropped.WithLabelValues(e.kind, "nats").Inc()
		limited.Warn("event not published; dropped", "type", e.kind, "subject", e.subject, "err", err)
		return
	}
	n.metrics.eventsPublished.WithLabelValues(e.kind).Inc()
}

// matchEvent reports a matching sample that did not make the verdict.
func (n *Node) matchEvent(st *ingest.Stream, m *detector.SampleMatch) {
	d := signal.MatchData{Stream: n.streamRef(st), Policy: n.signalPolicy(n.matchCfg.Policy)}
	for _, me := range m.Matches {
		d.Matches = append(d.Matches, signalMatch(m, me))
	}
	if len(d.Matches) == 0 {
		return
	}
	ev := signal.NewMatchEvent(n.source(), d)
	n.queueEvent(queuedEvent{kind: "match", subject: signal.MatchSubject(st.ID), id: ev.ID, event: ev})
}

// signalPolicy describes a decision policy in signals.
func (n *Node) signalPolicy(p detector.Policy) *signal.Policy {
	sp := &signal.Policy{
		Name: p.Name(), MinMatches: p.MinMatches,
		WindowSeconds: p.Window.Seconds(), MinQuality: n.matchCfg.MinQuality,
		MaxDistance: map[string]int{},
	}
	for _, a := range []detector.Algorithm{detector.PDQ, detector.PHash} {
		if d, ok := n.matchCfg.MaxDistance[a]; ok {
			sp.MaxDistance[a.String()] = d
		} else {
			sp.MaxDistance[a.String()] = a.DefaultMaxDistance()
		}
	}
	return sp
}

// signalMatch describes one entry a sample matched in signals.
func signalMatch(sm *detector.SampleMatch, me detector.MatchedEntry) signal.Match {
	m := signal.Match{
		List: me.Entry.List, ID: me.Entry.ID, Label: me.Entry.Label,
		Algorithm: sm.Hash.Algorithm.String(), Distance: me.Distance,
		StreamTime: sm.PTS.Seconds(), Hash: sm.Hash.String(), Quality: sm.Quality,
	}
	if me.Entry.Time != 0 {
		t := me.Entry.Time
		m.EntryTime = &t
	}
	return m
}

func (n *Node) streamStartedEvent(st *ingest.Stream) {
	ev := signal.NewStreamEvent(signal.TypeStreamStarted, n.source(), signal.StreamData{Stream: n.streamRef(st)})
	n.queueEvent(queuedEvent{kind: "started", subject: signal.SubjectStreamStarted, id: ev.ID, event: ev})
}

func (n *Node) streamEndedEvent(st *ingest.Stream) {
	cause := context.Cause(st.Context())
	code, detail := endReason(cause)
	ended := st.EndedAt().UTC()
	if ended.IsZero() {
		ended = time.Now().UTC()
	}
	stats := &signal.StreamStats{
		DurationSeconds: ended.Sub(st.Started).Seconds(),
		Units:           st.Stats.Units.Load(), Decoded: st.Stats.Decoded.Load(), Samples: st.Stats.Sampled.Load(),
	}
	if v, ok := n.views.Load(st); ok {
		_, stats.Matches, _ = v.(*streamView).snapshot()
	}
	ev := signal.NewStreamEvent(signal.TypeStreamEnded, n.source(), signal.StreamData{
		Stream: n.streamRef(st), Reason: code, Detail: detail, EndedAt: &ended, Stats: stats,
	})
	n.queueEvent(queuedEvent{kind: "ended", subject: signal.SubjectStreamEnded, id: ev.ID, event: ev})
}

// streamRefusedEvent reports an admission refusal; it is the registry's
// refusal hook, so whatever the admission chain refuses is reported.
func (n *Node) streamRefusedEvent(req ingest.Request, err error) {
	code := "refused"
	if errors.Is(err, errBlocklisted) {
		code = "blocklisted"
	}
	ref := signal.StreamRef{ID: req.ID, Name: req.Name, Protocol: req.Protocol, RemoteAddr: req.Remote, Node: n.cfg.NodeID}
	if req.Key != "" {
		ref.KeySHA256 = ingest.KeyHash(req.Key)
	}
	ev := signal.NewStreamEvent(signal.TypeStreamRefused, n.source(), signal.StreamData{Stream: ref, Reason: code, Detail: truncate(err.Error(), 1024)})
	n.queueEvent(queuedEvent{kind: "refused", subject: signal.SubjectStreamRefused, id: ev.ID, event: ev})
}

// endReason turns a stream's end cause into the ended event's reason code
// and words.
func endReason(cause error) (string, string) {
	detail := ""
	if cause != nil {
		detail = truncate(cause.Error(), 1024)
	}
	switch {
	case errors.Is(cause, ingest.ErrBlocked):
		return "blocked", detail
	case errors.Is(cause, ingest.ErrShutdown):
		return "shutdown", detail
	case errors.Is(cause, ingest.ErrUnsupportedMedia):
		return "unsupported", detail
	case cause == nil || errors.Is(cause, context.Canceled) || errors.Is(cause, io.EOF):
		return "publisher", detail
	default:
		return "error", detail
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
