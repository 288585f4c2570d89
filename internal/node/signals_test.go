package node

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/config"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/internal/testenv"
)

// nodeOpts describe a node for runNode.
type nodeOpts struct {
	index string
	// natsURL is an external NATS server; empty starts the embedded one.
	natsURL    string
	user, pass string // for an external server
	id         string
	args       []string
}

// runNode runs a node like startNode, on an external NATS server when one
// is given, and connects the harness's client to the same server.
func runNode(t *testing.T, o nodeOpts) *harness {
	t.Helper()
	if o.id == "" {
		o.id = "test-node"
	}
	args := []string{
		"--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--node-id", o.id, "--index", o.index, "--auth", "none",
	}
	if o.natsURL != "" {
		args = append(args, "--nats-url", o.natsURL)
	}
	if o.user != "" {
		args = append(args, "--nats-user", o.user, "--nats-password", o.pass)
	}
	cfg, err := config.Load("test", append(args, o.args...), nil)
	if err != nil {
		t.Fatal(err)
	}
	lb := &testenv.LogBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(lb, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	n, err := New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	url := o.natsURL
	if url == "" {
		url = n.NATSURL()
	}
	var copts []nats.Option
	if o.user != "" {
		copts = append(copts, nats.UserInfo(o.user, o.pass))
	}
	nc, err := nats.Connect(url, append(copts, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			nc.Close()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("node %s: %v", o.id, err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("node %s did not stop within 20 s", o.id)
			}
		})
	}
	t.Cleanup(stop)
	return &harness{t: t, node: n, nc: nc, log: lb, stop: stop}
}

// metricSum adds up every series of a metric in the node's /metrics.
func (h *harness) metricSum(name string) float64 {
	h.t.Helper()
	resp, err := http.Get("http://" + h.node.HTTPAddr().String() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// crash stops the node the way a dead one stops, as far as the fleet can
// tell: its NATS connection goes first, so it hands nothing back and
// removes nothing, then the process winds down.
func (h *harness) crash() {
	h.node.bus.Conn().Close()
	h.stop()
}

// natsServer is a NATS server apart from any node, which a test stops and
// starts again on the same port with the same storage.
type natsServer struct {
	t     *testing.T
	addr  string
	store string
	e     *signal.Embedded
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	s := &natsServer{t: t, store: t.TempDir()}
	e, err := signal.StartEmbedded(signal.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: s.store, ServerName: "test-nats"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.e, s.addr = e, e.Server().Addr().(*net.TCPAddr).String()
	t.Cleanup(func() {
		if s.e != nil {
			s.e.Close()
		}
	})
	return s
}

func (s *natsServer) url() string { return "nats://" + s.addr }

func (s *natsServer) shutdown() {
	s.e.Close()
	s.e = nil
}

func (s *natsServer) restart() {
	s.t.Helper()
	e, err := signal.StartEmbedded(signal.EmbeddedConfig{Listen: s.addr, StoreDir: s.store, ServerName: "test-nats"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		s.t.Fatal(err)
	}
	s.e = e
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// blockSignals reads every block signal VIGIL_BLOCKS holds, from the
// first, through its own JetStream consumer: what an enforcement service
// receives, duplicates suppressed by JetStream included.
func blockSignals(t *testing.T, nc *nats.Conn) <-chan signal.Event {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out := make(chan signal.Event, 16)
	var cc jetstream.ConsumeContext
	waitUntil(t, "consumer on VIGIL_BLOCKS", 30*time.Second, func() bool {
		cons, err := js.OrderedConsumer(ctx, signal.StreamBlocks, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
		if err != nil {
			return false
		}
		cc, err = cons.Consume(func(m jetstream.Msg) {
			if err := signal.ValidateBlock(m.Data()); err != nil {
				t.Errorf("signal fails the schema: %v\n%s", err, m.Data())
			}
			ev, _ := signal.ParseBlock(m.Data())
			out <- ev
		})
		return err == nil
	})
	t.Cleanup(cc.Stop)
	return out
}

// The first test. NATS goes down while a stream runs; the stream
// shows a known picture: the node cuts it locally at detection time, keeps
// the signal in its outbox, and when NATS comes back 20 s after it went,
// the signal for that detection reaches JetStream exactly once.
func TestSignalSurvivesNATSOutage(t *testing.T) {
	img := testenv.WritePNG(t, "known.png", testenv.KnownImage(31, 640, 360))
	srv := startNATS(t)
	h := runNode(t, nodeOpts{index: knownList(t, img), natsURL: srv.url()})

	known := testenv.Publish(t, h.rtmpURL("outage"), testenv.PublishOptions{Image: img, ImageAt: 6 * time.Second, Duration: 60 * time.Second})
	st := h.waitStream("outage", 10*time.Second)
	imageShown := known.Started.Add(6 * time.Second)

	srv.shutdown()
	down := time.Now()
	waitUntil(t, "node notices the outage", 5*time.Second, func() bool { return !h.node.bus.Connected() })

	// Cut at detection time: as fast as with NATS up (the slice's budget
	// is a signal within 3 s of the picture), not after a publish timeout.
	if !known.WaitExit(context.Background(), 15*time.Second) {
		t.Fatal("publisher not cut while NATS was down")
	}
	cut, _ := known.Exit()
	if d := cut.Sub(imageShown); d > 4*time.Second {
		t.Errorf("cut %s after the picture appeared, want within 4 s", d)
	} else {
		t.Logf("cut locally %s after the picture appeared", d.Round(time.Millisecond))
	}
	<-st.Context().Done()
	if cause := context.Cause(st.Context()); !errorsIs(cause, ingest.ErrBlocked) {
		t.Fatalf("stream ended with %v, want a block", cause)
	}
	if got := h.metric("vigil_local_enforcements_total"); got != 1 {
		t.Errorf("local enforcements = %v, want 1", got)
	}
	if got := h.metric("vigil_outbox_pending"); got != 1 {
		t.Fatalf("outbox holds %v signals, want 1", got)
	}

	// NATS comes back 20 s after it went.
	if wait := time.Until(down.Add(20 * time.Second)); wait > 0 {
		time.Sleep(wait) // the scenario's outage, not a wait for an event
	}
	srv.restart()
	restarted := time.Now()
	signals := blockSignals(t, h.nc)
	var ev signal.Event
	select {
	case ev = <-signals:
	case <-time.After(20 * time.Second):
		t.Fatal("signal not published after NATS came back")
	}
	t.Logf("signal in JetStream %s after NATS came back", time.Since(restarted).Round(time.Millisecond))
	if ev.Data.Stream.ID != "outage" || ev.Data.Reason != signal.ReasonMatch || ev.Data.DecidedAt == nil || !ev.Data.DecidedAt.Before(restarted) {
		t.Fatalf("unexpected signal %+v", ev.Data)
	}
	if d := ev.Data.DecidedAt.Sub(imageShown); d > 4*time.Second || d < 0 {
		t.Errorf("signal decided %s after the picture appeared", d)
	}
	waitUntil(t, "outbox empty", 10*time.Second, func() bool { return h.metric("vigil_outbox_pending") == 0 })

	// Exactly once: nothing more arrives, and the stream holds one.
	select {
	case again := <-signals:
		t.Fatalf("second signal %s (%s)", again.ID, again.Data.Stream.ID)
	case <-time.After(2 * time.Second):
	}
	js, _ := jetstream.New(h.nc)
	stream, err := js.Stream(context.Background(), signal.StreamBlocks)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background(), jetstream.WithSubjectFilter(signal.BlockSubject("outage")))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[signal.BlockSubject("outage")]; n != 1 {
		t.Fatalf("VIGIL_BLOCKS holds %d signals for the stream, want 1", n)
	}
	if got := h.metric("vigil_outbox_replayed_total"); got != 1 {
		t.Errorf("replayed = %v, want 1", got)
	}
	raw, _ := json.Marshal(ev)
	if err := signal.ValidateBlock(raw); err != nil {
		t.Fatal(err)
	}
}

// A node that stops while NATS is down keeps its unpublished signals on
// disk; started again on the same data directory, it publishes them once
// NATS is back. The manual block of the admin API takes the same path as
// the node's own verdicts.
func TestOutboxOutlivesTheNode(t *testing.T) {
	srv := startNATS(t)
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir, "--admin-token", adminToken, "--shutdown-timeout", "3s"}
	h := runNode(t, nodeOpts{natsURL: srv.url(), args: args})
	p := testenv.Publish(t, h.rtmpURL("kept"), testenv.PublishOptions{Duration: 60 * time.Second})
	h.waitStream("kept", 10*time.Second)

	srv.shutdown()
	waitUntil(t, "node notices the outage", 5*time.Second, func() bool { return !h.node.bus.Connected() })
	start := time.Now()
	code, res := h.api("POST", "/api/streams/kept/block", adminToken, strings.NewReader(`{"note":"while NATS is down"}`))
	if code != http.StatusAccepted || res["enforced"] != "local" {
		t.Fatalf("manual block: %d %v", code, res)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("manual block answered after %s; NATS being down must not make it wait", d)
	}
	if !p.WaitExit(context.Background(), 5*time.Second) {
		t.Fatal("stream not cut locally")
	}
	event := res["event"].(string)
	// Health says what an operator needs: degraded, one signal waiting.
	resp, err := http.Get("http://" + h.node.HTTPAddr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Status string `json:"status"`
		Outbox int    `json:"outbox_pending"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || health.Status != "degraded" || health.Outbox != 1 {
		t.Errorf("healthz %d %+v, want 503, degraded, 1 signal waiting", resp.StatusCode, health)
	}
	h.stop() // with the signal still in the outbox
	if !h.log.WaitFor("kept in the outbox for the next start", time.Second) {
		t.Error("no log line about the signals kept")
	}

	srv.restart()
	h2 := runNode(t, nodeOpts{natsURL: srv.url(), args: args})
	signals := blockSignals(t, h2.nc)
	select {
	case ev := <-signals:
		if ev.ID != event || ev.Data.Reason != signal.ReasonManual || ev.Data.Note != "while NATS is down" {
			t.Fatalf("replayed %+v, want event %s", ev, event)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("kept signal not published by the next start")
	}
	if got := h2.metric("vigil_outbox_replayed_total"); got != 1 {
		t.Errorf("replayed = %v, want 1", got)
	}
}

// A node that cannot reach its NATS server at start says so and releases
// what it had acquired.
func TestNewFailsCleanly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "nats://" + ln.Addr().String()
	ln.Close()
	cfg, err := config.Load("test", []string{"--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--nats-url", dead}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || n != nil {
		t.Fatalf("New with NATS unreachable: %v, %v", n, err)
	}
}
