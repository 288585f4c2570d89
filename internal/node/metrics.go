package node

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
)

// metrics are the node's Prometheus metrics. Per-frame counts live in each
// stream's atomic counters and are summed at scrape time, so the hot path
// never touches a metric.
type metrics struct {
	reg *prometheus.Registry

	matches          prometheus.Counter
	verdicts         prometheus.Counter
	signalsPublished prometheus.Counter
	signalsFailed    prometheus.Counter
	localEnforce     prometheus.Counter
	signalsReceived  *prometheus.CounterVec
	hashSeconds      prometheus.Histogram
	matchSeconds     prometheus.Histogram
	enforceSeconds   prometheus.Histogram
	indexReloads     *prometheus.CounterVec
	admissions       *prometheus.CounterVec

	// NATS and fleet (signals.go, events.go, blocklist.go, fleet.go).
	eventsPublished *prometheus.CounterVec
	eventsDropped   *prometheus.CounterVec
	blocklistWrites *prometheus.CounterVec
	jobs            *prometheus.CounterVec
	fleetIndex      *prometheus.CounterVec

	// totals of streams that have ended, so counters never go back.
	ended streamTotals
}

type streamTotals struct {
	mu                                                        sync.Mutex
	units, keyframes, decoded, sampled, dropped, queueDropped uint64
	decodeErrors, randomSamples, catchUps, keyRequests        uint64
}

func (t *streamTotals) add(s *ingest.Stream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.units += s.Stats.Units.Load()
	t.keyframes += s.Stats.Keyframes.Load()
	t.decoded += s.Stats.Decoded.Load()
	t.sampled += s.Stats.Sampled.Load()
	t.dropped += s.Stats.Dropped.Load()
	t.queueDropped += s.QueueDropped()
	t.decodeErrors += s.Stats.DecodeErrors.Load()
	t.randomSamples += s.Stats.RandomSample.Load()
	t.catchUps += s.Stats.CatchUps.Load()
	t.keyRequests += s.Stats.KeyRequests.Load()
}

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "vigil", Name: name, Help: help})
	}
	m.matches = f("matches_total", "Samples that matched the index within the max distance.")
	m.verdicts = f("verdicts_total", "Decisions to block a stream taken by this node.")
	m.signalsPublished = f("signals_published_total", "Block signals acknowledged by JetStream (replays from the outbox included).")
	m.signalsFailed = f("signals_failed_total", "Block signals JetStream did not acknowledge in time; the outbox keeps them until it does.")
	m.localEnforce = f("local_enforcements_total", "Blocks enforced locally because the signal did not make the round trip.")
	m.signalsReceived = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "vigil", Name: "signals_received_total",
		Help: "Block signals received on the subscription, by result: applied (ended a hosted stream), ignored (not hosted here), invalid."}, []string{"result"})
	buckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}
	m.hashSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "vigil", Name: "hash_seconds", Help: "Time to hash one sample (all algorithms, orientations and crops).", Buckets: buckets})
	m.matchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "vigil", Name: "match_seconds", Help: "Time to query the index for one sample.", Buckets: buckets})
	m.enforceSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "vigil", Name: "verdict_to_end_seconds",
		Help: "Time from a verdict to the stream's publisher being disconnected.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}})
	m.indexReloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "vigil", Name: "index_reloads_total", Help: "Index reloads by result."}, []string{"result"})
	m.admissions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "vigil", Name: "admissions_total",
		Help: "Admission decisions by protocol, result (admitted, refused) and reason."}, []string{"protocol", "result", "reason"})
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "vigil", Name: name, Help: help}, labels)
	}
	m.eventsPublished = vec("events_published_total", "Match and stream events JetStream acknowledged, by type: match, started, ended, refused.", "type")
	m.eventsDropped = vec("events_dropped_total", "Match and stream events dropped rather than waited for, by type and reason: queue_full, disconnected, nats.", "type", "reason")
	m.blocklistWrites = vec("blocklist_writes_total", "Blocklist entries written to the VIGIL_BLOCKLIST bucket, by result: ok, failed, dropped.", "result")
	m.jobs = vec("jobs_total", "Fleet join jobs by what became of them on this node: claimed, done, blocked, handed_back, retry, given_up, lost, invalid, already_live.", "result")
	m.fleetIndex = vec("fleet_index_updates_total", "Indexes from the fleet's object store, by result: ok, refused (failed verification or did not load).", "result")
	gauge := func(name, help string, fn func() float64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "vigil", Name: name, Help: help}, fn)
	}
	counter := func(name, help string, labels prometheus.Labels, fn func() float64) prometheus.CounterFunc {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "vigil", Name: name, Help: help, ConstLabels: labels}, fn)
	}
	ob := func(fn func(*signal.Outbox) float64) func() float64 {
		return func() float64 {
			if n.sig.outbox == nil {
				return 0
			}
			return fn(n.sig.outbox)
		}
	}
	const droppedHelp = "Block signals the outbox did not keep (full: over --outbox-max-signals, enforced locally and logged in full) or dropped unpublished (expired: over --outbox-max-age, logged in full)."
	m.reg.MustRegister(m.eventsPublished, m.eventsDropped, m.blocklistWrites, m.jobs, m.fleetIndex,
		gauge("outbox_pending", "Block signals in the outbox waiting for a JetStream acknowledgement.", ob(func(o *signal.Outbox) float64 { return float64(o.Len()) })),
		gauge("outbox_oldest_age_seconds", "Age of the oldest signal waiting in the outbox (0 when empty).", ob(func(o *signal.Outbox) float64 {
			if t := o.Oldest(); !t.IsZero() {
				return time.Since(t).Seconds()
			}
			return 0
		})),
		counter("outbox_dropped_total", droppedHelp, prometheus.Labels{"reason": "full"}, ob(func(o *signal.Outbox) float64 { return float64(o.DroppedFull.Load()) })),
		counter("outbox_dropped_total", droppedHelp, prometheus.Labels{"reason": "expired"}, ob(func(o *signal.Outbox) float64 { return float64(o.DroppedExpired.Load()) })),
		counter("outbox_replayed_total", "Block signals published after NATS had not taken them at first (outage, timeout, or left from an earlier run).",
			nil, ob(func(o *signal.Outbox) float64 { return float64(o.Replayed.Load()) })),
		gauge("events_queued", "Match and stream events waiting to be published.", func() float64 { return float64(len(n.sig.events)) }),
		gauge("blocklist_entries", "Blocked stream keys and addresses this node refuses now.", func() float64 { return float64(n.sig.blocklist.len(time.Now())) }),
		gauge("jobs_running", "Fleet join jobs this node runs now.", func() float64 { return float64(n.sig.jobs.count()) }),
		gauge("jobs_capacity", "Fleet join jobs this node runs at most (--jobs-capacity).", func() float64 { return float64(n.cfg.JobsCapacity) }),
	)
	m.reg.MustRegister(m.admissions, m.matches, m.verdicts, m.signalsPublished, m.signalsFailed, m.localEnforce, m.signalsReceived,
		m.hashSeconds, m.matchSeconds, m.enforceSeconds, m.indexReloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&streamCollector{n: n})
	return m
}

// streamCollector reports the live streams and the frame counters at scrape
// time from the streams' own atomics.
type streamCollector struct{ n *Node }

var (
	descActive = prometheus.NewDesc("vigil_streams_active", "Streams live on this node, by protocol.", []string{"protocol"}, nil)
	descFrames = prometheus.NewDesc("vigil_frames_total",
		"Pictures by stage: received (access units), keyframes, decoded, sampled, dropped (detector behind), queue_dropped (decoder behind).", []string{"stage"}, nil)
	descDecodeErrors = prometheus.NewDesc("vigil_decode_errors_total", "Access units the decoder rejected.", nil, nil)
	descRandom       = prometheus.NewDesc("vigil_random_samples_total", "Samples taken at random times.", nil, nil)
	descCatchUps     = prometheus.NewDesc("vigil_catchups_total", "Groups of pictures decoded to sample between keyframes.", nil, nil)
	descKeyRequests  = prometheus.NewDesc("vigil_keyframe_requests_total", "Keyframes asked of publishers.", nil, nil)
	descIndexEntries = prometheus.NewDesc("vigil_index_entries", "Entries in the index in use.", nil, nil)
	descIndexInfo    = prometheus.NewDesc("vigil_index_info", "The index in use (value 1).", []string{"version", "source"}, nil)
	descIndexLoaded  = prometheus.NewDesc("vigil_index_loaded_timestamp_seconds", "When the index in use was loaded.", nil, nil)
)

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descActive, descFrames, descDecodeErrors, descRandom, descCatchUps, descKeyRequests, descIndexEntries, descIndexInfo, descIndexLoaded} {
		ch <- d
	}
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	t := &c.n.metrics.ended
	t.mu.Lock()
	sum := streamTotals{units: t.units, keyframes: t.keyframes, decoded: t.decoded, sampled: t.sampled, dropped: t.dropped,
		queueDropped: t.queueDropped, decodeErrors: t.decodeErrors, randomSamples: t.randomSamples, catchUps: t.catchUps, keyRequests: t.keyRequests}
	t.mu.Unlock()
	active := map[string]int{"rtmp": 0, "whip": 0, "whep": 0, "pull": 0}
	for _, s := range c.n.reg.List() {
		active[s.Protocol]++
		sum.add(s)
	}
	for p, v := range active {
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(v), p)
	}
	for stage, v := range map[string]uint64{"received": sum.units, "keyframes": sum.keyframes, "decoded": sum.decoded,
		"sampled": sum.sampled, "dropped": sum.dropped, "queue_dropped": sum.queueDropped} {
		ch <- prometheus.MustNewConstMetric(descFrames, prometheus.CounterValue, float64(v), stage)
	}
	ch <- prometheus.MustNewConstMetric(descDecodeErrors, prometheus.CounterValue, float64(sum.decodeErrors))
	ch <- prometheus.MustNewConstMetric(descRandom, prometheus.CounterValue, float64(sum.randomSamples))
	ch <- prometheus.MustNewConstMetric(descCatchUps, prometheus.CounterValue, float64(sum.catchUps))
	ch <- prometheus.MustNewConstMetric(descKeyRequests, prometheus.CounterValue, float64(sum.keyRequests))
	info := c.n.indexInfo()
	ch <- prometheus.MustNewConstMetric(descIndexEntries, prometheus.GaugeValue, float64(info.Entries))
	ch <- prometheus.MustNewConstMetric(descIndexInfo, prometheus.GaugeValue, 1, info.Version, info.Source)
	ch <- prometheus.MustNewConstMetric(descIndexLoaded, prometheus.GaugeValue, float64(info.LoadedAt.Unix()))
}

// streamView is what the node knows of a hosted stream beyond its counters:
// the matching results the API and status page show. The detector stage
// writes it; readers take the lock.
type streamView struct {
	mu        sync.Mutex
	best      int       // best (smallest) distance seen, -1 for none
	history   []float64 // best distance per sample, -1 for no match, last historyLen
	matches   int
	verdictAt atomic.Int64 // Unix nanoseconds of the verdict, 0 for none
}

const historyLen = 120

func newStreamView() *streamView { return &streamView{best: -1} }

func (v *streamView) observe(best int, matched bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if best >= 0 && (v.best < 0 || best < v.best) {
		v.best = best
	}
	if matched {
		v.matches++
	}
	if len(v.history) == historyLen {
		copy(v.history, v.history[1:])
		v.history = v.history[:historyLen-1]
	}
	v.history = append(v.history, float64(best))
}

func (v *streamView) snapshot() (best, matches int, history []float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.best, v.matches, append([]float64(nil), v.history...)
}
