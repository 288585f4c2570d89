package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/ingest/pull"
	"github.com/vigilstream/vigil/ingest/rtmp"
	"github.com/vigilstream/vigil/internal/config"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/sampler"
)

// Node is a running Vigil node.
type Node struct {
	cfg config.Config
	log *slog.Logger

	index    atomic.Pointer[loadedIndex]
	reloadMu sync.Mutex // one reload at a time
	matchCfg detector.MatcherConfig
	sampling sampler.Config
	metrics  *metrics
	views    sync.Map    // *ingest.Stream -> *streamView
	sig      nodeSignals // outbox, events, blocklist, fleet (signals.go)

	reg      *ingest.Registry
	embedded *signal.Embedded
	bus      *signal.Bus
	rtmp     *rtmp.Server
	rtc      *webrtcParts
	httpLn   net.Listener
	http     *http.Server

	// tasks tracks goroutines that outlive the call that started them
	// (signal publishing), so Close can wait for them.
	tasks sync.WaitGroup
	// runCtx is cancelled when the node stops.
	runCtx    context.Context
	runCancel context.CancelFunc
}

// New builds a node: it loads the index, starts or connects to NATS and
// binds its listeners, so that an error surfaces before Run and the bound
// addresses are known. Close releases what New acquired when Run is not
// called.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Node, err error) {
	// n is not the named result: `return nil, err` would nil it before
	// the cleanup below runs.
	n := &Node{cfg: cfg, log: log}
	n.runCtx, n.runCancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	if err := n.loadIndex(); err != nil {
		return nil, err
	}
	n.matchCfg = detector.MatcherConfig{
		MinQuality: cfg.MinQuality,
		Dihedral:   cfg.Dihedral,
		Policy:     detector.Policy{MinMatches: cfg.MinMatches, Window: cfg.MatchWindow},
	}
	n.sampling = sampler.DefaultConfig
	n.sampling.Policy, _ = sampler.ParsePolicy(cfg.SamplePolicy)
	n.sampling.Interval, n.sampling.MaxGap = cfg.SampleInterval, cfg.MaxGap
	n.sampling.RandomPerMinute, n.sampling.MaxPixels, n.sampling.NoCrop = cfg.RandomSamples, cfg.MaxPixels, cfg.NoCrop
	n.sampling.ConfirmDelay = cfg.ConfirmDelay
	if err := n.sampling.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxDistance > 0 {
		n.matchCfg.MaxDistance = map[detector.Algorithm]int{detector.PDQ: cfg.MaxDistance, detector.PHash: cfg.MaxDistance}
	}
	if err := n.matchCfg.Policy.Validate(); err != nil {
		return nil, err
	}

	urls := cfg.NATSURL
	if urls == "" {
		store := filepath.Join(cfg.DataDir, "nats")
		if err := os.MkdirAll(store, 0o750); err != nil {
			return nil, fmt.Errorf("node: data dir: %w", err)
		}
		n.embedded, err = signal.StartEmbedded(signal.EmbeddedConfig{Listen: cfg.NATSListen, StoreDir: store}, log)
		if err != nil {
			return nil, err
		}
		urls = n.embedded.ClientURL()
		log.Info("embedded NATS started", "url", urls, "store", store)
	}
	n.bus, err = signal.Connect(ctx, n.busConfig(urls), log)
	if err != nil {
		return nil, err
	}

	n.metrics = newMetrics(n)
	n.reg = ingest.NewRegistry(n.consume)
	n.reg.OnEnded(n.streamEnded)
	n.reg.SetMaxBitrate(cfg.MaxBitrate)
	if err := n.initSignals(ctx); err != nil {
		return nil, err
	}
	// The admission chain: blocklist first (from the fleet's bucket), then
	// rate, credentials and limits.
	adm, err := newAdmission(n)
	if err != nil {
		return nil, err
	}
	n.reg.SetAdmitter(adm.admit)
	rc := rtmp.DefaultConfig
	rc.Addr, rc.App, rc.ReadTimeout = cfg.RTMPAddr, cfg.RTMPApp, cfg.ReadTimeout
	n.rtmp = rtmp.New(rc, n.reg, log)
	if err := n.rtmp.Listen(); err != nil {
		return nil, err
	}
	if err := n.newWebRTC(); err != nil {
		return nil, err
	}
	n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("node: http listen %s: %w", cfg.HTTPAddr, err)
	}
	n.http = &http.Server{
		Handler:           n.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	return n, nil
}

func (n *Node) loadIndex() error {
	li, err := n.readIndex(n.cfg.Index)
	if err != nil {
		return err
	}
	n.useIndex(li)
	return nil
}

func (n *Node) useIndex(li *loadedIndex) {
	switch {
	case li.Source == "":
		n.log.Warn("no index given: the node matches nothing", "flag", "--index")
	case li.Index.Len() == 0:
		n.log.Warn("index is empty: the node matches nothing", "index", li.Source)
	default:
		n.log.Info("index loaded", "index", li.Source, "entries", li.Index.Len(), "version", li.Version)
	}
	n.index.Store(li)
}

// Index is the index in use now. Samples read it once each, so a reload
// takes effect at the next sample and samples in flight finish on the old.
func (n *Node) Index() *detector.Index { return n.index.Load().Index }

// RTMPAddr is the bound RTMP address.
func (n *Node) RTMPAddr() net.Addr { return n.rtmp.Addr() }

// HTTPAddr is the bound HTTP address.
func (n *Node) HTTPAddr() net.Addr { return n.httpLn.Addr() }

// NATSURL is the URL of the embedded NATS server, or "" with an external one.
func (n *Node) NATSURL() string {
	if n.embedded == nil {
		return ""
	}
	return n.embedded.ClientURL()
}

// Registry is the node's stream registry.
func (n *Node) Registry() *ingest.Registry { return n.reg }

// Run serves until ctx ends, then shuts down gracefully within the
// configured deadline: it stops accepting, ends every stream with
// ErrShutdown, lets samples in flight finish and signals go out, and closes
// NATS. It returns an error when the deadline passes first.
func (n *Node) Run(ctx context.Context) error {
	defer n.Close()
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()

	if err := n.bus.SubscribeBlocks(n.runCtx, false, n.enforce); err != nil {
		return err
	}
	n.startSignals()
	errc := make(chan error, 2)
	go func() { errc <- n.rtmp.Serve(serveCtx) }()
	go func() {
		err := n.http.Serve(n.httpLn)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	if n.cfg.IndexPoll > 0 {
		n.tasks.Add(1)
		go func() {
			defer n.tasks.Done()
			n.pollIndex(n.runCtx)
		}()
	}
	n.log.Info("node serving", "node", n.cfg.NodeID, "rtmp", n.RTMPAddr().String(), "http", n.HTTPAddr().String())
	n.startJoins()

	var first error
	pending := 2
	select {
	case <-ctx.Done():
	case first = <-errc:
		pending--
	}
	n.log.Info("shutting down", "deadline", n.cfg.ShutdownWait)
	stopBy := time.Now().Add(n.cfg.ShutdownWait * 9 / 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.stopSignalIntake()
		// Streams end first, with a reason their logs and events carry;
		// their stages finish the samples already decoded.
		n.reg.CloseAll(ingest.ErrShutdown)
		stopServing()
		shut, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownWait)
		defer cancel()
		_ = n.http.Shutdown(shut)
		for ; pending > 0; pending-- {
			if err := <-errc; err != nil && first == nil {
				first = err
			}
		}
		// Pulls and signals in flight.
		n.runCancel()
		n.tasks.Wait()
		n.flushSignals(stopBy)
	}()
	select {
	case <-done:
		n.log.Info("node stopped")
		return first
	case <-time.After(n.cfg.ShutdownWait):
		return fmt.Errorf("node: shutdown took longer than %s", n.cfg.ShutdownWait)
	}
}

// pollIndex reloads the index when its file changes.
func (n *Node) pollIndex(ctx context.Context) {
	t := time.NewTicker(n.cfg.IndexPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n.indexChanged() {
				_, _ = n.ReloadIndex()
			}
		}
	}
}

// pull starts joining source as stream name.
func (n *Node) pull(source, name string) error {
	cfg := pull.DefaultConfig
	cfg.AllowFiles = n.cfg.PullAllowFiles
	if err := pull.Check(source, cfg.AllowFiles); err != nil {
		return err
	}
	id, err := ingest.StreamID(name)
	if err != nil {
		return err
	}
	if n.reg.Get(id) != nil {
		return fmt.Errorf("%w: %s", ingest.ErrStreamExists, id)
	}
	n.tasks.Add(1)
	go func() {
		defer n.tasks.Done()
		_ = pull.Run(n.runCtx, n.reg, source, name, cfg, n.log)
	}()
	return nil
}

// Close releases everything New acquired. Run calls it on return.
func (n *Node) Close() {
	n.runCancel()
	n.closeWebRTC()
	n.tasks.Wait()
	if n.httpLn != nil {
		n.httpLn.Close()
	}
	if n.rtmp != nil {
		_ = n.rtmp.Close()
	}
	n.closeSignals()
	if n.bus != nil {
		n.bus.Close()
	}
	if n.embedded != nil {
		n.embedded.Close()
	}
}
