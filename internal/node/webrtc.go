package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/ingest/webrtc"
	"github.com/vigilstream/vigil/internal/config"
)

// webrtcParts are the node's WebRTC ingest: the WHIP endpoint on the HTTP
// listener and the WHEP client, sharing one pion engine.
type webrtcParts struct {
	eng  *webrtc.Engine
	whip *webrtc.Server
	whep *webrtc.Client

	mu    sync.Mutex
	joins map[string]*webrtc.Join // by stream name
}

// newWebRTC builds the WebRTC ingest from the configuration. It binds the
// single-port UDP mux when one is configured, so New reports a busy port.
func (n *Node) newWebRTC() error {
	cfg := n.cfg
	tokens, err := webrtc.ParseTokens(cfg.WHIPTokens)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if tokens.Empty() && cfg.Auth != "none" {
		// Admission still runs, with the bearer token as the stream key;
		// --auth none has its own warning.
		n.log.Info("WHIP: no --whip-tokens; publishers are admitted by --auth with their bearer token as the key", "auth", cfg.Auth)
	}
	ice := webrtc.ICEConfig{
		PublicIPs: config.List(cfg.WebRTCPublicIP),
		UDPMux:    cfg.WebRTCUDPMux,
		IPs:       config.List(cfg.WebRTCIPs),
	}
	if ice.PortMin, ice.PortMax, err = cfg.UDPPorts(); err != nil {
		return err
	}
	eng, err := webrtc.NewEngine(ice, n.log)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	wc := webrtc.DefaultConfig
	wc.Tokens, wc.MaxBodyBytes, wc.MaxPending = tokens, int64(cfg.WHIPMaxBody), cfg.WHIPMaxPending
	wc.SetupTimeout, wc.ReadTimeout = cfg.WebRTCSetupTimeout, cfg.ReadTimeout
	cc := webrtc.DefaultClientConfig
	cc.SetupTimeout, cc.ReadTimeout = cfg.WebRTCSetupTimeout, cfg.ReadTimeout
	n.rtc = &webrtcParts{
		eng:   eng,
		whip:  webrtc.NewServer(wc, eng, n.reg, "/whip/", n.log),
		whep:  webrtc.NewClient(cc, eng, n.reg, n.log),
		joins: make(map[string]*webrtc.Join),
	}
	if a := eng.UDPMuxAddr(); a != nil {
		n.log.Info("WebRTC UDP mux listening", "addr", a.String())
	}
	return nil
}

// webrtcRoutes registers the WHIP endpoint: POST /whip/STREAM, and
// DELETE, PATCH and OPTIONS on the session resources it hands out.
func (n *Node) webrtcRoutes(mux *http.ServeMux) {
	if n.rtc != nil {
		mux.Handle("/whip/", n.rtc.whip.Handler())
	}
}

// startJoins joins the --whep-join streams in the background.
func (n *Node) startJoins() {
	joins, _ := n.cfg.WHEPJoins() // validated by config.Load
	for _, j := range joins {
		if _, err := n.join(j.URL, j.Name, n.cfg.WHEPToken); err != nil {
			n.log.Error("WHEP join not started", "stream", j.Name, "url", j.URL, "err", err)
		}
	}
}

// JoinWHEP makes the node watch the stream a WHEP server offers at url, as
// stream name, sending token as a bearer token when set. It returns once
// video flows (nil), or with why the first attempt failed for good, or
// with ctx's error (the join is then abandoned). After it returns nil the
// join reconnects with backoff on its own until the source ends, the
// stream is blocked, LeaveWHEP is called or the node stops.
func (n *Node) JoinWHEP(ctx context.Context, url, name, token string) error {
	j, err := n.join(url, name, token)
	if err != nil {
		return err
	}
	select {
	case <-j.Connected():
		return nil
	case <-j.Done():
		return j.Err()
	case <-ctx.Done():
		j.Stop()
		return fmt.Errorf("node: WHEP join %s: %w", name, ctx.Err())
	}
}

func (n *Node) join(url, name, token string) (*webrtc.Join, error) {
	r := n.rtc
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.joins[name]; old != nil {
		select {
		case <-old.Done():
		default:
			return nil, fmt.Errorf("node: WHEP join %s: %w (joined from %s)", name, ingest.ErrStreamExists, old.URL)
		}
	}
	j, err := r.whep.Join(url, name, token)
	if err != nil {
		return nil, err
	}
	r.joins[name] = j
	n.tasks.Go(func() {
		<-j.Done()
		r.mu.Lock()
		if r.joins[name] == j {
			delete(r.joins, name)
		}
		r.mu.Unlock()
	})
	return j, nil
}

// LeaveWHEP stops the WHEP join of stream name and reports whether there
// was one.
func (n *Node) LeaveWHEP(name string) bool {
	n.rtc.mu.Lock()
	j := n.rtc.joins[name]
	delete(n.rtc.joins, name)
	n.rtc.mu.Unlock()
	if j == nil {
		return false
	}
	select {
	case <-j.Done():
		return false // it had ended on its own
	default:
	}
	j.Stop()
	return true
}

// UDPMuxAddr is the bound address of the WebRTC UDP mux, or nil.
func (n *Node) UDPMuxAddr() net.Addr { return n.rtc.eng.UDPMuxAddr() }

// closeWebRTC ends every WHIP session and WHEP join and releases the mux.
func (n *Node) closeWebRTC() {
	if n.rtc == nil {
		return
	}
	err := errors.Join(n.rtc.whep.Close(), n.rtc.whip.Close(), n.rtc.eng.Close())
	if err != nil {
		n.log.Warn("closing WebRTC", "err", err)
	}
}
