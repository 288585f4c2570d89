package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
)

// nodeSignals is the node's side of NATS beyond the block subscription:
// the signal outbox, the event queue, the blocklist, the fleet's jobs,
// index and heartbeats. Its goroutines run under ctx, apart from the
// node's tasks, so that signals can still be flushed after the streams
// and their tasks have stopped.
type nodeSignals struct {
	outbox *signal.Outbox
	events chan queuedEvent
	// eventsPending counts events queued or being published.
	eventsPending atomic.Int64
	blocklist     blocklist
	blWatch       jetstream.KeyWatcher
	blWrites      chan signal.BlocklistEntry
	nodesKV       jetstream.KeyValue
	jobs          *jobRunner
	startedAt     time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// claiming is cancelled when the node stops taking fleet jobs.
	claiming     context.Context
	stopClaiming context.CancelFunc
	closeOnce    sync.Once
}

// busConfig is the NATS connection the configuration asks for.
func (n *Node) busConfig(urls string) signal.BusConfig {
	c := n.cfg
	return signal.BusConfig{
		URLs: urls, Name: "vigil " + c.NodeID, PublishTimeout: c.PublishTimeout, Replicas: c.NATSReplicas,
		Auth: signal.Auth{
			CredsFile: c.NATSCreds, NKeyFile: c.NATSNKey, User: c.NATSUser, Password: c.NATSPassword,
			Token: c.NATSToken, CAFile: c.NATSCA, CertFile: c.NATSCert, KeyFile: c.NATSKey,
		},
	}
}

// initSignals opens the outbox, sets up the buckets and the job consumer,
// loads the blocklist, and installs the registry hooks and the admitter.
// New calls it once the registry exists and before anything is served.
func (n *Node) initSignals(ctx context.Context) error {
	s := &n.sig
	s.startedAt = time.Now()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.claiming, s.stopClaiming = context.WithCancel(s.ctx)
	s.events = make(chan queuedEvent, n.cfg.EventsQueue)
	s.blWrites = make(chan signal.BlocklistEntry, 256)
	s.blocklist.entries = make(map[string]signal.BlocklistEntry)
	s.jobs = newJobRunner(n.cfg.JobsCapacity)

	path := n.cfg.Outbox
	if path == "" {
		if err := os.MkdirAll(n.cfg.DataDir, 0o750); err != nil {
			return fmt.Errorf("node: data dir: %w", err)
		}
		path = filepath.Join(n.cfg.DataDir, "outbox.db")
	}
	ob, err := signal.OpenOutbox(signal.OutboxConfig{Path: path, MaxSignals: n.cfg.OutboxMaxSignals, MaxAge: n.cfg.OutboxMaxAge}, n.log)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	ob.OnPublished = func(string) { n.metrics.signalsPublished.Inc() }
	s.outbox = ob

	n.bus.OnInvalid = func(string, error) { n.metrics.signalsReceived.WithLabelValues("invalid").Inc() }
	var bl jetstream.KeyValue
	err = setup(ctx, func() (err error) {
		if bl, err = n.bus.Blocklist(ctx); err != nil {
			return err
		}
		if s.nodesKV, err = n.bus.Nodes(ctx); err != nil {
			return err
		}
		if s.jobs.cons, err = n.bus.Jobs(ctx); err != nil {
			return err
		}
		_, err = n.bus.IndexStore(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if err := n.loadBlocklist(ctx, bl); err != nil {
		return err
	}

	// The registry's ended hook is the node's; events and jobs wrap it.
	n.reg.OnEnded(func(st *ingest.Stream) {
		n.streamEndedEvent(st)
		n.sig.jobs.streamEnded(st)
		n.streamEnded(st)
	})
	n.reg.OnStarted(func(st *ingest.Stream) {
		n.sig.jobs.streamStarted(st)
		n.streamStartedEvent(st)
	})
	n.reg.OnRefused(n.streamRefusedEvent)
	return nil
}

// setup runs fn, the creation of the node's streams and buckets, up to
// three times: nodes of a fleet that start together race to create the
// same replicated streams, and the losers' requests may time out.
func setup(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range 3 {
		if err = fn(); err == nil || !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
		}
	}
	return err
}

// startSignals starts the outbox's drain, the event publisher, the
// blocklist's watcher and writer, the fleet index watcher, the heartbeat
// and the job claims. Run calls it.
func (n *Node) startSignals() {
	s := &n.sig
	s.wg.Go(func() { s.outbox.Run(s.ctx, n.bus) })
	s.wg.Go(func() { n.runEvents(s.ctx) })
	s.wg.Go(func() { n.watchBlocklist(s.ctx) })
	s.wg.Go(func() { n.writeBlocklist(s.ctx) })
	s.wg.Go(func() { n.heartbeat(s.ctx) })
	if n.cfg.FleetIndex {
		s.wg.Go(func() { n.watchFleetIndex(s.ctx) })
	}
	if n.cfg.JobsCapacity > 0 {
		s.wg.Go(func() { n.claimJobs(s.claiming) })
	}
}

// stopSignalIntake stops claiming fleet jobs and removes the node's
// heartbeat: the first step of a shutdown, before the streams end (and
// their jobs are handed back).
func (n *Node) stopSignalIntake() {
	if n.sig.stopClaiming == nil {
		return
	}
	n.sig.stopClaiming()
	if n.sig.nodesKV != nil && n.bus.Connected() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = n.sig.nodesKV.Delete(ctx, signal.NodeKey(n.cfg.NodeID))
		cancel()
	}
}

// flushSignals gives the outbox and the event queue until deadline to get
// what they hold to NATS; what the outbox still holds then is kept on disk
// for the next start.
func (n *Node) flushSignals(deadline time.Time) {
	if n.sig.outbox == nil {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if left, err := n.sig.outbox.Flush(ctx); err != nil {
		n.log.Warn("signals not yet acknowledged at shutdown are kept in the outbox for the next start", "pending", left)
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	// Jobs hand themselves back as their streams end.
	for n.sig.jobs.count() > 0 {
		select {
		case <-ctx.Done():
			n.log.Warn("fleet jobs not handed back at shutdown; they go to other nodes after the ack wait", "jobs", n.sig.jobs.count())
			return
		case <-t.C:
		}
	}
	for n.sig.eventsPending.Load() > 0 && n.bus.Connected() {
		select {
		case <-ctx.Done():
			n.log.Warn("events not published at shutdown", "dropped", n.sig.eventsPending.Load())
			return
		case <-t.C:
		}
	}
}

// closeSignals stops what startSignals started and closes the outbox.
func (n *Node) closeSignals() {
	s := &n.sig
	if s.cancel == nil {
		return
	}
	s.closeOnce.Do(func() {
		s.cancel()
		if s.blWatch != nil {
			_ = s.blWatch.Stop()
		}
		s.wg.Wait()
		if s.outbox != nil {
			if err := s.outbox.Close(); err != nil {
				n.log.Error("closing the outbox", "err", err)
			}
		}
	})
}

// errNATSDown says a signal could not even be tried: NATS is not connected.
var errNATSDown = errors.New("node: NATS not connected; the signal waits in the outbox")

// sendBlock makes ev durable in the outbox and waits, until ctx ends, for
// JetStream to acknowledge it. When NATS is not connected it returns at
// once, so the caller enforces without waiting; the outbox publishes the
// signal when NATS is back. A signal the outbox cannot keep (full, disk
// error) is logged in full and published directly, once.
func (n *Node) sendBlock(ctx context.Context, ev signal.Event) error {
	seq, err := n.sig.outbox.Add(ev)
	if err != nil {
		raw, _ := json.Marshal(ev)
		n.log.Error("block signal not kept in the outbox; trying NATS once", "event", ev.ID, "err", err, "signal", string(raw))
		if err := n.bus.PublishBlock(ctx, ev); err != nil {
			return err
		}
		n.metrics.signalsPublished.Inc()
		return nil
	}
	if !n.bus.Connected() {
		return errNATSDown
	}
	if err := n.sig.outbox.Wait(ctx, seq); err != nil {
		return fmt.Errorf("node: signal %s not acknowledged: %w", ev.ID, err)
	}
	return nil
}

func (n *Node) source() string { return "vigil://node/" + n.cfg.NodeID }

// streamRef names a hosted stream in signals and events.
func (n *Node) streamRef(st *ingest.Stream) signal.StreamRef {
	started := st.Started.UTC()
	return signal.StreamRef{
		ID: st.ID, Name: st.Name, Session: st.Session, Protocol: st.Protocol,
		RemoteAddr: st.Remote, Node: n.cfg.NodeID, StartedAt: &started, KeySHA256: st.KeyHash,
	}
}
