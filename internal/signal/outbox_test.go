package signal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// restartable is an embedded server that can be stopped and started again
// on the same port with the same storage, as a NATS outage would.
type restartable struct {
	t     *testing.T
	addr  string
	store string
	e     *Embedded
}

func startRestartable(t *testing.T) *restartable {
	t.Helper()
	r := &restartable{t: t, store: t.TempDir()}
	e, err := StartEmbedded(EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: r.store}, discard())
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	r.addr = e.Server().Addr().(*net.TCPAddr).String()
	t.Cleanup(func() {
		if r.e != nil {
			r.e.Close()
		}
	})
	return r
}

func (r *restartable) url() string { return "nats://" + r.addr }

func (r *restartable) stop() {
	r.e.Close()
	r.e = nil
}

func (r *restartable) start() {
	r.t.Helper()
	e, err := StartEmbedded(EmbeddedConfig{Listen: r.addr, StoreDir: r.store}, discard())
	if err != nil {
		r.t.Fatal(err)
	}
	r.e = e
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func blockFor(stream string) Event {
	return NewBlockEvent("test", Block{Stream: StreamRef{ID: stream}, Reason: ReasonManual})
}

// Signals added while NATS is down survive the node closing its outbox,
// and are published in order, once each, when the node starts again and
// NATS is back.
func TestOutboxSurvivesOutageAndRestart(t *testing.T) {
	srv := startRestartable(t)
	bus, err := Connect(context.Background(), BusConfig{URLs: srv.url(), Name: "t", PublishTimeout: 500 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := OpenOutbox(OutboxConfig{Path: path, RetryInterval: 50 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ob.Run(ctx, bus) }()

	// One signal while NATS is up: acknowledged at once.
	first := blockFor("s0")
	seq, err := ob.Add(first)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	if err := ob.Wait(wctx, seq); err != nil {
		t.Fatalf("signal not acknowledged with NATS up: %v", err)
	}
	wcancel()

	srv.stop()
	waitFor(t, "client notices the outage", 5*time.Second, func() bool { return !bus.Connected() })
	var ids []string
	for i := 1; i <= 5; i++ {
		ev := blockFor(fmt.Sprintf("s%d", i))
		ids = append(ids, ev.ID)
		seq, err := ob.Add(ev)
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		if err := ob.Wait(wctx, seq); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("signal %d acknowledged with NATS down: %v", i, err)
		}
		wcancel()
	}
	if n := ob.Len(); n != 5 {
		t.Fatalf("outbox holds %d, want 5", n)
	}
	// The node stops with the signals unpublished...
	cancel()
	<-done
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	// ...and starts again: they are still there.
	ob, err = OpenOutbox(OutboxConfig{Path: path, RetryInterval: 50 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if n := ob.Len(); n != 5 {
		t.Fatalf("reopened outbox holds %d, want 5", n)
	}
	var published []string
	ob.OnPublished = func(id string) { published = append(published, id) }
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done = make(chan struct{})
	go func() { defer close(done); ob.Run(ctx, bus) }()

	srv.start()
	fctx, fcancel := context.WithTimeout(ctx, 15*time.Second)
	defer fcancel()
	if n, err := ob.Flush(fctx); err != nil {
		t.Fatalf("outbox not flushed after NATS came back: %d left: %v", n, err)
	}
	cancel()
	<-done
	if fmt.Sprint(published) != fmt.Sprint(ids) {
		t.Fatalf("published %v, want %v in order", published, ids)
	}
	if r := ob.Replayed.Load(); r != 5 {
		t.Errorf("replayed = %d, want 5", r)
	}
	// The stream holds each signal once and in order.
	st, err := bus.JetStream().Stream(context.Background(), StreamBlocks)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 6 {
		t.Fatalf("stream holds %d signals, want 6", info.State.Msgs)
	}
	for i, id := range append([]string{first.ID}, ids...) {
		m, err := st.GetMsg(context.Background(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(jetstream.MsgIDHeader) != id {
			t.Fatalf("message %d is %s, want %s", i+1, m.Header.Get(jetstream.MsgIDHeader), id)
		}
	}
}

// A replay of a signal NATS already took (its acknowledgement lost, or
// the node died before deleting it) is stored once.
func TestOutboxReplayIsDeduplicated(t *testing.T) {
	_, bus := startBus(t)
	ev := blockFor("dup")
	raw, _ := json.Marshal(ev)
	for range 3 {
		if err := bus.Publish(context.Background(), BlockSubject("dup"), ev.ID, raw); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := bus.JetStream().Stream(context.Background(), StreamBlocks)
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d copies, want 1", info.State.Msgs)
	}
}

// At its limits the outbox keeps what it has: a signal beyond MaxSignals is
// refused, and one older than MaxAge is dropped when its turn comes; both
// are counted.
func TestOutboxLimits(t *testing.T) {
	srv := startRestartable(t)
	bus, err := Connect(context.Background(), BusConfig{URLs: srv.url(), Name: "t", PublishTimeout: 500 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	srv.stop()
	waitFor(t, "client notices the outage", 5*time.Second, func() bool { return !bus.Connected() })

	ob, err := OpenOutbox(OutboxConfig{Path: filepath.Join(t.TempDir(), "o.db"), MaxSignals: 2, MaxAge: time.Hour, RetryInterval: 20 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	var offset atomic.Int64
	ob.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	old, young, extra := blockFor("old"), blockFor("young"), blockFor("extra")
	if _, err := ob.Add(old); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(50 * time.Minute))
	if _, err := ob.Add(young); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Add(extra); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("third signal: err = %v, want ErrOutboxFull", err)
	}
	if ob.DroppedFull.Load() != 1 || ob.Len() != 2 {
		t.Fatalf("full: dropped %d, len %d", ob.DroppedFull.Load(), ob.Len())
	}
	if got := ob.Oldest(); got.IsZero() {
		t.Fatal("no oldest signal")
	}

	publishedCh := make(chan string, 4)
	ob.OnPublished = func(id string) { publishedCh <- id }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ob.Run(ctx, bus) }()
	defer func() { cancel(); <-done }()
	// An hour and a bit later, with NATS still down: the first is past its
	// max age and goes, the second waits.
	offset.Store(int64(61 * time.Minute))
	ob.Wake()
	waitFor(t, "expired signal dropped", 5*time.Second, func() bool { return ob.DroppedExpired.Load() == 1 })
	if ob.Len() != 1 {
		t.Fatalf("len %d after expiry, want 1", ob.Len())
	}
	srv.start()
	select {
	case id := <-publishedCh:
		if id != young.ID {
			t.Fatalf("published %s, want the young signal", id)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("young signal not published after NATS came back")
	}
}
