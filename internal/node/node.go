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
	"github.com/vigilstream/vigil/ingest/rtmp"
	"github.com/vigilstream/vigil/internal/config"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/sampler"
)

// Node is a running Vigil node.
type Node struct {
	cfg config.Config
	log *slog.Logger

	index    atomic.Pointer[detector.Index]
	matchCfg detector.MatcherConfig
	sampling sampler.Config

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
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (n *Node, err error) {
	n = &Node{cfg: cfg, log: log}
	n.runCtx, n.runCancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			n.Close()
			n = nil
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
	n.bus, err = signal.Connect(ctx, signal.BusConfig{URLs: urls, Name: "vigil " + cfg.NodeID, PublishTimeout: cfg.PublishTimeout}, log)
	if err != nil {
		return nil, err
	}

	n.reg = ingest.NewRegistry(n.consume)
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
	if n.cfg.Index == "" {
		n.log.Warn("no index given: the node matches nothing", "flag", "--index")
		idx, _ := detector.NewIndex(nil)
		n.index.Store(idx)
		return nil
	}
	idx, err := loadIndexFile(n.cfg.Index)
	if err != nil {
		return err
	}
	if idx.Len() == 0 {
		n.log.Warn("index is empty: the node matches nothing", "index", n.cfg.Index)
	}
	n.log.Info("index loaded", "index", n.cfg.Index, "entries", idx.Len())
	n.index.Store(idx)
	return nil
}

func loadIndexFile(path string) (*detector.Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("node: index: %w", err)
	}
	defer f.Close()
	entries, err := detector.ReadHexList(f, filepath.Base(path), path)
	if err != nil {
		return nil, fmt.Errorf("node: index: %w", err)
	}
	return detector.NewIndex(entries)
}

// Index is the index in use now.
func (n *Node) Index() *detector.Index { return n.index.Load() }

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

// Run serves until ctx ends, then stops: listeners close, streams end with
// ErrShutdown, signals in flight finish, NATS closes.
func (n *Node) Run(ctx context.Context) error {
	defer n.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if err := n.bus.SubscribeBlocks(ctx, false, n.enforce); err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- n.rtmp.Serve(ctx) }()
	go func() {
		err := n.http.Serve(n.httpLn)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	n.log.Info("node serving", "node", n.cfg.NodeID, "rtmp", n.RTMPAddr().String(), "http", n.HTTPAddr().String())
	n.startJoins()

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	cancel()
	shut, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = n.http.Shutdown(shut)
	for range 2 {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	n.log.Info("node stopped")
	return first
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
	if n.bus != nil {
		n.bus.Close()
	}
	if n.embedded != nil {
		n.embedded.Close()
	}
}
