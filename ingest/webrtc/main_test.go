package webrtc

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/sampler"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	sampler.SilenceFFmpegLogs()
	goleak.VerifyTestMain(m)
}

// decoded is what a decoding consumer saw of one stream.
type decoded struct {
	stats *sampler.Stats
	codec sampler.Codec
}

// rig is a WHIP server and a WHEP client on 127.0.0.1 whose streams run
// through the real sampler, decoding every picture, so a test sees whether
// the access units it built are decodable.
type rig struct {
	t      *testing.T
	eng    *Engine
	reg    *ingest.Registry
	srv    *Server
	client *Client
	http   *httptest.Server

	mu      sync.Mutex
	streams map[string]decoded
}

func newRig(t *testing.T, cfg Config, ccfg ClientConfig) *rig {
	t.Helper()
	return newRigLog(t, cfg, ccfg, testWriter{t})
}

// newRigLog is newRig with the log going to w.
func newRigLog(t *testing.T, cfg Config, ccfg ClientConfig, w io.Writer) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	eng, err := NewEngine(ICEConfig{IPs: []string{"127.0.0.1"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, eng: eng, streams: make(map[string]decoded)}
	r.reg = ingest.NewRegistry(r.consume)
	r.srv = NewServer(cfg, eng, r.reg, "/whip/", log)
	r.client = NewClient(ccfg, eng, r.reg, log)
	mux := http.NewServeMux()
	mux.Handle("/whip/", r.srv.Handler())
	r.http = httptest.NewServer(mux)
	t.Cleanup(func() {
		r.http.Close()
		_ = r.client.Close()
		_ = r.srv.Close()
		_ = eng.Close()
		if n := r.reg.Len(); n != 0 {
			t.Errorf("%d streams still registered after Close", n)
		}
	})
	return r
}

func (r *rig) consume(ctx context.Context, st *ingest.Stream, p sampler.Params, units <-chan sampler.AccessUnit) {
	cfg := sampler.DefaultConfig
	cfg.Policy, cfg.Interval, cfg.RandomPerMinute = sampler.Interval, 0, 0
	s, err := sampler.New(p, cfg, &st.Stats)
	if err != nil {
		r.t.Errorf("sampler: %v", err)
		return
	}
	defer s.Close()
	r.mu.Lock()
	r.streams[st.Name] = decoded{stats: &st.Stats, codec: p.Codec}
	r.mu.Unlock()
	frames := make(chan sampler.Frame, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range frames {
			f.Release()
		}
	}()
	s.Run(ctx, units, frames, nil)
	close(frames)
	<-done
}

// stats waits until stream name is decoding and returns its counters.
func (r *rig) stats(name string, timeout time.Duration) decoded {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		d, ok := r.streams[name]
		r.mu.Unlock()
		if ok {
			return d
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("stream %s not decoding within %s", name, timeout)
	return decoded{}
}

func (r *rig) endpoint(name string) string { return r.http.URL + "/whip/" + name }

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
