package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/ratelog"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/sampler"
)

// consume runs a hosted stream's decoder and detector stages; it is the
// ingest.Consumer of the node's registry. The decoder stage runs here, the
// detector stage in its own goroutine, with a bounded channel between them.
func (n *Node) consume(ctx context.Context, st *ingest.Stream, p sampler.Params, units <-chan sampler.AccessUnit) {
	log := n.log.With("stream", st.ID, "proto", st.Protocol)
	s, err := sampler.New(p, n.sampling, &st.Stats)
	if err != nil {
		log.Warn("cannot watch stream; ending it", "err", err)
		st.Close(fmt.Errorf("%w: %v", ingest.ErrUnsupportedMedia, err))
		return
	}
	defer s.Close()
	s.RequestKeyframe = st.RequestKeyframe

	frames := make(chan sampler.Frame, 1)
	var wg sync.WaitGroup
	wg.Go(func() { n.detect(st, frames, s, log) })
	limited := ratelog.New(log, time.Second)
	s.Run(ctx, units, frames, func(err error) {
		if errors.Is(err, sampler.ErrPictureTooLarge) {
			st.Close(fmt.Errorf("%w: %v", ingest.ErrUnsupportedMedia, err))
			return
		}
		limited.Warn("decode error", "err", err)
	})
	close(frames)
	wg.Wait()
}

// detect hashes and matches a stream's samples until frames is closed. After
// a verdict it only releases frames: the stream is on its way out.
func (n *Node) detect(st *ingest.Stream, frames <-chan sampler.Frame, smp *sampler.Sampler, log *slog.Logger) {
	m := detector.NewMatcher(n.Index, n.matchCfg)
	view := n.view(st)
	limited := ratelog.New(log, time.Second)
	decided := false
	for f := range frames {
		if decided {
			f.Release()
			continue
		}
		obs, v, err := m.Observe(f.PTS, f.Arrival, f.Content, f.Plane)
		f.Release()
		if err != nil {
			limited.Warn("hash error", "err", err)
		}
		n.metrics.hashSeconds.Observe(obs.HashTime.Seconds())
		n.metrics.matchSeconds.Observe(obs.MatchTime.Seconds())
		view.observe(obs.Best, obs.Match != nil)
		if obs.Match != nil {
			n.metrics.matches.Inc()
			if v == nil {
				// One match is not yet a verdict: look again soon rather
				// than at the next keyframe.
				smp.Confirm()
				n.matchEvent(st, obs.Match) // never waits: queued or dropped
			}
		}
		if v != nil {
			decided = true
			view.verdictAt.Store(time.Now().UnixNano())
			n.metrics.verdicts.Inc()
			n.verdict(st, *v, log)
		}
	}
}

// view returns the stream's view, creating it on first use.
func (n *Node) view(st *ingest.Stream) *streamView {
	v, _ := n.views.LoadOrStore(st, newStreamView())
	return v.(*streamView)
}

// streamEnded folds an ended stream into the totals and records how long
// enforcement took when a verdict ended it.
func (n *Node) streamEnded(st *ingest.Stream) {
	n.metrics.ended.add(st)
	if v, ok := n.views.LoadAndDelete(st); ok {
		if at := v.(*streamView).verdictAt.Load(); at != 0 {
			n.metrics.enforceSeconds.Observe(st.EndedAt().Sub(time.Unix(0, at)).Seconds())
		}
	}
}

// verdict turns a detector verdict into a block signal. The stream ends when
// the signal comes back through the node's subscription; if NATS is down or
// does not acknowledge it, or the subscription does not deliver it in time,
// the node enforces the same signal locally. The signal waits in the outbox
// until NATS takes it.
func (n *Node) verdict(st *ingest.Stream, v detector.Verdict, log *slog.Logger) {
	ev := signal.NewBlockEvent(n.source(), n.blockFor(st, v))
	log.Warn("verdict: blocking stream", "event", ev.ID, "matches", len(ev.Data.Matches),
		"list", ev.Data.Matches[0].List, "entry", ev.Data.Matches[0].ID, "distance", ev.Data.Matches[0].Distance)
	n.tasks.Add(1)
	go func() {
		defer n.tasks.Done()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.PublishTimeout)
		err := n.sendBlock(ctx, ev)
		cancel()
		if err != nil {
			n.metrics.signalsFailed.Inc()
			n.metrics.localEnforce.Inc()
			log.Error("block signal not acknowledged; enforcing locally, the outbox keeps it", "event", ev.ID, "err", err)
			n.enforce(ev)
			return
		}
		// The subscription normally ends the stream within milliseconds;
		// a stuck subscription must not leave it running.
		select {
		case <-st.Context().Done():
		case <-time.After(time.Second):
			n.metrics.localEnforce.Inc()
			log.Warn("block signal not seen on the subscription; enforcing locally", "event", ev.ID)
			n.enforce(ev)
		case <-n.runCtx.Done():
		}
	}()
}

func (n *Node) blockFor(st *ingest.Stream, v detector.Verdict) signal.Block {
	now := time.Now().UTC()
	b := signal.Block{
		Stream:    n.streamRef(st),
		Target:    n.matchTarget(st),
		Reason:    signal.ReasonMatch,
		DecidedAt: &now,
		Policy:    n.signalPolicy(v.Policy),
	}
	for i := range v.Matches {
		for _, me := range v.Matches[i].Matches {
			b.Matches = append(b.Matches, signalMatch(&v.Matches[i], me))
		}
	}
	return b
}

// enforce ends the hosted stream a block signal names, and with a target,
// blocklists its key or address and ends the hosted streams that present
// them. Signals for streams this node does not host, or for another session
// of the name, are no-ops.
func (n *Node) enforce(ev signal.Event) {
	ref := ev.Data.Stream
	reason := fmt.Errorf("%w by %s signal %s from %s", ingest.ErrBlocked, ev.Data.Reason, ev.ID, ev.Source)
	applied := n.applyTarget(ev, reason)
	if ref.ID != "" && n.reg.Close(ref.ID, ref.Session, reason) {
		applied = true
		n.log.Info("stream blocked", "stream", ref.ID, "event", ev.ID, "reason", ev.Data.Reason, "source", ev.Source)
	}
	if applied {
		n.metrics.signalsReceived.WithLabelValues("applied").Inc()
		return
	}
	n.metrics.signalsReceived.WithLabelValues("ignored").Inc()
}
