package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
)

// How fleet jobs are held (see signal.StreamJobs): a node asks for a job
// only when it has a free slot; while the job's stream runs it reports
// progress every signal.JobsProgressEvery, which resets JetStream's
// AckWait (signal.JobsAckWait). A node that dies stops reporting, and the
// job goes to another node's pending request once AckWait has passed: a
// takeover within AckWait plus one fetch, well inside 30 s. A node that
// cannot report (cut off from NATS) for most of an AckWait gives the job
// up and ends its stream, so two nodes do not watch it for long. A node
// that shuts down hands its jobs back at once (Nak).
const (
	// jobStartWait bounds the wait for a claimed job's stream to register.
	jobStartWait = 30 * time.Second
	// jobRetryDelay is how long a job whose stream failed waits before it
	// is offered again.
	jobRetryDelay = 10 * time.Second
	// fetchWait is how long one request for a job waits on the server.
	fetchWait = 5 * time.Second
)

// errClaimLost ends a job's stream when the node could not report progress
// long enough for JetStream to give the job to another node.
var errClaimLost = errors.New("node: fleet job claim lost (no progress reported to NATS)")

// jobRunner tracks the fleet jobs a node runs.
type jobRunner struct {
	cons  jetstream.Consumer
	slots chan struct{}

	mu      sync.Mutex
	running map[string]*runningJob // by stream id
}

type runningJob struct {
	job     signal.Job
	attempt uint64
	since   time.Time
	st      *ingest.Stream
	started chan struct{} // closed when st is set
	ended   chan error    // the stream's cause, once
	orphan  bool          // abandoned before its stream registered
}

func newJobRunner(capacity int) *jobRunner {
	return &jobRunner{slots: make(chan struct{}, max(capacity, 1)), running: make(map[string]*runningJob)}
}

func (r *jobRunner) count() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

func (r *jobRunner) status() []signal.JobStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]signal.JobStatus, 0, len(r.running))
	for id, j := range r.running {
		out = append(out, signal.JobStatus{ID: j.job.ID, Stream: id, Since: j.since, Attempt: j.attempt})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// streamStarted binds a job's stream when it registers.
func (r *jobRunner) streamStarted(st *ingest.Stream) {
	if r == nil {
		return
	}
	r.mu.Lock()
	j := r.running[st.ID]
	if j != nil && j.st == nil && st.Protocol != "rtmp" && st.Protocol != "whip" {
		j.st = st
		close(j.started)
	}
	orphan := j != nil && j.orphan
	r.mu.Unlock()
	if orphan {
		st.Close(errClaimLost)
	}
}

// streamEnded tells a job its stream is over.
func (r *jobRunner) streamEnded(st *ingest.Stream) {
	if r == nil {
		return
	}
	r.mu.Lock()
	j := r.running[st.ID]
	r.mu.Unlock()
	if j != nil && j.st == st {
		select {
		case j.ended <- context.Cause(st.Context()):
		default:
		}
	}
}

// claimJobs asks for a job whenever a slot is free, until ctx ends.
func (n *Node) claimJobs(ctx context.Context) {
	r := n.sig.jobs
	log := n.log.With("component", "jobs")
	for {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		m := n.nextJob(ctx, log)
		if m == nil {
			<-r.slots
			return
		}
		n.sig.wg.Go(func() {
			defer func() { <-r.slots }()
			n.runJob(ctx, m, log)
		})
	}
}

// nextJob waits for a job until one comes or ctx ends (nil).
func (n *Node) nextJob(ctx context.Context, log *slog.Logger) jetstream.Msg {
	for ctx.Err() == nil {
		if !n.bus.Connected() {
			select {
			case <-ctx.Done():
				return nil
			case <-n.bus.Reconnected():
			case <-time.After(time.Second):
			}
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		m, err := n.sig.jobs.cons.Next(jetstream.FetchContext(fctx))
		cancel()
		if err == nil {
			return m
		}
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			log.Debug("job fetch failed", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// runJob runs one claimed job until its stream is over, then settles it
// with JetStream: done or blocked (Ack), handed back at shutdown (Nak),
// failed (Nak with a delay, given up after signal.JobsMaxAttempts).
func (n *Node) runJob(claiming context.Context, m jetstream.Msg, log *slog.Logger) {
	meta, _ := m.Metadata()
	attempt := uint64(1)
	if meta != nil {
		attempt = meta.NumDelivered
	}
	job, err := signal.ParseJob(m.Data())
	if err != nil {
		n.metrics.jobs.WithLabelValues("invalid").Inc()
		log.Warn("invalid job dropped", "err", err)
		_ = m.Term()
		return
	}
	id, err := ingest.StreamID(job.Name)
	if err != nil {
		n.metrics.jobs.WithLabelValues("invalid").Inc()
		log.Warn("job with a bad stream name dropped", "job", job.ID, "err", err)
		_ = m.Term()
		return
	}
	if attempt > signal.JobsMaxAttempts {
		n.metrics.jobs.WithLabelValues("given_up").Inc()
		log.Warn("job given up", "job", job.ID, "stream", id, "attempts", attempt-1)
		_ = m.Term()
		return
	}
	r := n.sig.jobs
	j := &runningJob{job: job, attempt: attempt, since: time.Now().UTC(), started: make(chan struct{}), ended: make(chan error, 1)}
	r.mu.Lock()
	_, busy := r.running[id]
	if !busy {
		r.running[id] = j
	}
	r.mu.Unlock()
	if busy {
		// The same stream runs here already (a duplicate job).
		n.metrics.jobs.WithLabelValues("already_live").Inc()
		_ = m.Ack()
		return
	}
	defer func() {
		r.mu.Lock()
		delete(r.running, id)
		r.mu.Unlock()
	}()
	jlog := log.With("job", job.ID, "stream", id, "attempt", attempt)
	jctx, cancel := context.WithTimeout(n.runCtx, 30*time.Second)
	err = n.Join(jctx, joinRequest{URL: job.URL, Name: job.Name, Protocol: job.Protocol, Token: job.Token})
	cancel()
	if err != nil {
		if errors.Is(err, ingest.ErrStreamExists) {
			n.metrics.jobs.WithLabelValues("already_live").Inc()
			jlog.Info("job's stream is live here already")
			_ = m.Ack()
			return
		}
		n.metrics.jobs.WithLabelValues("invalid").Inc()
		jlog.Warn("job refused", "err", err)
		_ = m.Term()
		return
	}
	n.metrics.jobs.WithLabelValues("claimed").Inc()
	jlog.Info("job claimed")

	progress := time.NewTicker(signal.JobsProgressEvery)
	defer progress.Stop()
	startBy := time.NewTimer(jobStartWait)
	defer startBy.Stop()
	lastReport := time.Now()
	lost := false
	started, stopping := j.started, claiming.Done()
	stream := func() *ingest.Stream {
		r.mu.Lock()
		defer r.mu.Unlock()
		return j.st
	}
	for {
		select {
		case <-started:
			// Bound: from now on the stream's end settles the job.
			started, stopping = nil, nil
			startBy.Stop()
		case <-stopping:
			r.mu.Lock()
			j.orphan = j.st == nil
			r.mu.Unlock()
			n.metrics.jobs.WithLabelValues("handed_back").Inc()
			_ = m.Nak()
			return
		case <-startBy.C:
			r.mu.Lock()
			j.orphan = j.st == nil
			r.mu.Unlock()
			n.metrics.jobs.WithLabelValues("retry").Inc()
			jlog.Warn("job's stream did not start; offering it again")
			_ = m.NakWithDelay(jobRetryDelay)
			return
		case <-progress.C:
			if n.bus.Connected() && m.InProgress() == nil {
				lastReport = time.Now()
				continue
			}
			if !lost && time.Since(lastReport) > signal.JobsAckWait*3/4 {
				// Another node may hold the job by now.
				lost = true
				n.metrics.jobs.WithLabelValues("lost").Inc()
				jlog.Warn("cannot report progress to NATS; giving the job up")
				if st := stream(); st != nil {
					st.Close(errClaimLost)
				} else {
					r.mu.Lock()
					j.orphan = true
					r.mu.Unlock()
					return
				}
			}
		case cause := <-j.ended:
			n.settleJob(claiming, m, cause, lost, jlog)
			return
		case <-n.sig.ctx.Done():
			return // closing without a shutdown: the job times out to another node
		}
	}
}

// settleJob tells JetStream what became of a job whose stream ended.
func (n *Node) settleJob(claiming context.Context, m jetstream.Msg, cause error, lost bool, log *slog.Logger) {
	result := "done"
	var err error
	switch {
	case lost || errors.Is(cause, errClaimLost):
		return
	case errors.Is(cause, ingest.ErrBlocked):
		result = "blocked" // a blocked stream is not to be watched again
		err = m.Ack()
	case errors.Is(cause, ingest.ErrShutdown) || claiming.Err() != nil:
		result = "handed_back"
		err = m.Nak()
	case cause == nil || errors.Is(cause, io.EOF) || errors.Is(cause, context.Canceled):
		err = m.Ack()
	default:
		result = "retry"
		err = m.NakWithDelay(jobRetryDelay)
	}
	n.metrics.jobs.WithLabelValues(result).Inc()
	log.Info("job settled", "result", result, "cause", fmt.Sprint(cause), "err", err)
}

// heartbeat publishes the node's status to the nodes bucket every interval
// until ctx ends.
func (n *Node) heartbeat(ctx context.Context) {
	interval := n.cfg.HeartbeatInterval
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n.bus.Connected() && n.sig.claiming.Err() == nil {
			li := n.index.Load()
			s := signal.NodeStatus{
				Node: n.cfg.NodeID, At: time.Now().UTC(), StartedAt: n.sig.startedAt.UTC(), IntervalSeconds: interval.Seconds(),
				Capacity: n.cfg.JobsCapacity, Jobs: n.sig.jobs.status(), Streams: n.reg.Len(),
				IndexVersion: li.Version, IndexEntries: li.Index.Len(), Outbox: n.sig.outbox.Len(),
			}
			if err := n.bus.PutHeartbeat(ctx, s, 3*interval); err != nil && ctx.Err() == nil {
				n.log.Debug("heartbeat not published", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchFleetIndex swaps in every index published to the fleet's object
// store, the one there at start included, until ctx ends.
func (n *Node) watchFleetIndex(ctx context.Context) {
	log := n.log.With("component", "fleet-index")
	for ctx.Err() == nil {
		err := n.bus.WatchIndex(ctx,
			func(version string) bool { return n.index.Load().Version == version },
			func(u signal.IndexUpdate) {
				source := signal.BucketIndex + "/" + signal.IndexObject + " (" + u.Meta.Source + ")"
				_, err := n.swapIndex(source, func() (*loadedIndex, error) {
					idx, err := indexFromBytes(u.Data, u.Meta.Source)
					if err != nil {
						return nil, err
					}
					return &loadedIndex{Index: idx, Source: source, Version: u.Meta.Version, LoadedAt: time.Now(), fleet: true}, nil
				})
				if err != nil {
					n.metrics.fleetIndex.WithLabelValues("refused").Inc()
					return
				}
				n.metrics.fleetIndex.WithLabelValues("ok").Inc()
				log.Info("fleet index in use", "version", u.Meta.Version, "entries", n.Index().Len(),
					"published", u.Meta.ModTime, "by", u.Meta.PublishedBy)
			},
			func(meta signal.IndexMeta, err error) {
				n.metrics.fleetIndex.WithLabelValues("refused").Inc()
				log.Error("fleet index refused; keeping the index in use", "version", meta.Version, "err", err)
			})
		if err != nil {
			log.Warn("cannot watch the fleet index; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
