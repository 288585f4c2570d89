package rtmp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/testenv"
	"github.com/vigilstream/vigil/sampler"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type recorder struct {
	mu    sync.Mutex
	units []sampler.AccessUnit
	param sampler.Params
}

func (r *recorder) consume(ctx context.Context, _ *ingest.Stream, p sampler.Params, units <-chan sampler.AccessUnit) {
	r.mu.Lock()
	r.param = p
	r.mu.Unlock()
	for au := range units {
		r.mu.Lock()
		r.units = append(r.units, au)
		r.mu.Unlock()
	}
}

func startServer(t *testing.T, cfg Config, consumer ingest.Consumer) (*Server, *ingest.Registry, *testenv.LogBuffer) {
	t.Helper()
	logs := &testenv.LogBuffer{}
	reg := ingest.NewRegistry(consumer)
	cfg.Addr = "127.0.0.1:0"
	s := New(cfg, reg, slog.New(slog.NewTextHandler(logs, nil)))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, reg, logs
}

func TestPublishDeliversAccessUnits(t *testing.T) {
	var rec recorder
	s, _, _ := startServer(t, DefaultConfig, rec.consume)
	p := testenv.Publish(t, fmt.Sprintf("rtmp://%s/live/cam", s.Addr()), testenv.PublishOptions{Duration: 3 * time.Second, Size: "320x240"})
	if !p.WaitExit(context.Background(), 20*time.Second) {
		t.Fatal("ffmpeg did not finish")
	}
	if _, err := p.Exit(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, p.Stderr())
	}
	// The handler may still be flushing the last units.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.units)
		rec.mu.Unlock()
		if n >= 88 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.param.Codec != sampler.H264 || len(rec.param.SPS) == 0 || len(rec.param.PPS) == 0 {
		t.Fatalf("params %+v", rec.param)
	}
	if n := len(rec.units); n < 88 || n > 91 {
		t.Fatalf("%d access units for 3 s at 30 fps", n)
	}
	var keys []time.Duration
	for i, au := range rec.units {
		if au.Key {
			keys = append(keys, au.PTS)
		}
		if i > 0 && au.PTS < rec.units[i-1].PTS {
			t.Fatalf("pts went back at unit %d", i)
		}
	}
	if len(keys) != 2 || keys[0] != 0 || keys[1] != 2*time.Second {
		t.Fatalf("keyframes at %v, want [0s 2s]", keys)
	}
}

func TestSilentConnectionDropped(t *testing.T) {
	cfg := DefaultConfig
	cfg.HandshakeTimeout = 300 * time.Millisecond
	s, _, logs := startServer(t, cfg, func(context.Context, *ingest.Stream, sampler.Params, <-chan sampler.AccessUnit) {})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("silent connection kept open for 5 s")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("dropped after %s, want about 300 ms", d)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(logs.String(), "connection refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no reason logged: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInitBudget(t *testing.T) {
	cfg := DefaultConfig
	cfg.InitBudget = 16 << 10
	var rec recorder
	s, reg, logs := startServer(t, cfg, rec.consume)
	p := testenv.Publish(t, fmt.Sprintf("rtmp://%s/live/big", s.Addr()), testenv.PublishOptions{Duration: 10 * time.Second, Size: "1280x720"})
	if !p.WaitExit(context.Background(), 10*time.Second) {
		t.Fatal("publisher over the budget not dropped")
	}
	if !strings.Contains(logs.String(), "too many bytes") {
		t.Fatalf("no budget reason in log: %s", logs.String())
	}
	if reg.Len() != 0 {
		t.Fatal("stream still registered")
	}
}

func TestWrongAppRefused(t *testing.T) {
	s, reg, logs := startServer(t, DefaultConfig, func(context.Context, *ingest.Stream, sampler.Params, <-chan sampler.AccessUnit) {})
	p := testenv.Publish(t, fmt.Sprintf("rtmp://%s/other/cam", s.Addr()), testenv.PublishOptions{Duration: 5 * time.Second})
	if !p.WaitExit(context.Background(), 10*time.Second) {
		t.Fatal("publisher to a wrong app not refused")
	}
	if !strings.Contains(logs.String(), "want /live/STREAM") || reg.Len() != 0 {
		t.Fatalf("log: %s", logs.String())
	}
}

// FuzzServerConn feeds arbitrary bytes to a connection handler: it must end
// the connection without a panic (the handler's recover logs one) or a hang.
func FuzzServerConn(f *testing.F) {
	f.Add([]byte{3})
	f.Add(append([]byte{3}, make([]byte, 1536)...))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		logs := &testenv.LogBuffer{}
		reg := ingest.NewRegistry(func(context.Context, *ingest.Stream, sampler.Params, <-chan sampler.AccessUnit) {})
		cfg := DefaultConfig
		cfg.HandshakeTimeout = 200 * time.Millisecond
		cfg.ReadTimeout = 200 * time.Millisecond
		s := New(cfg, reg, slog.New(slog.NewTextHandler(logs, nil)))
		s.ctx, s.cancel = context.WithCancel(context.Background())
		defer s.cancel()
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.handle(server)
		}()
		go func() {
			_ = client.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			_, _ = client.Write(in)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatal("handler hung")
		}
		client.Close()
		if strings.Contains(logs.String(), "panicked") {
			t.Fatalf("handler panicked: %s", logs.String())
		}
	})
}
