package node

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/internal/testenv"
)

// eventLog collects every match and stream event from VIGIL_EVENTS,
// checking each against its schema.
type eventLog struct {
	t      *testing.T
	mu     sync.Mutex
	events []json.RawMessage
}

func collectEvents(t *testing.T, nc *nats.Conn) *eventLog {
	t.Helper()
	l := &eventLog{t: t}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cons, err := js.OrderedConsumer(ctx, signal.StreamEvents, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if _, err := signal.ValidateEvent(m.Data()); err != nil {
			t.Errorf("event on %s fails its schema: %v\n%s", m.Subject(), err, m.Data())
		}
		l.mu.Lock()
		l.events = append(l.events, append(json.RawMessage(nil), m.Data()...))
		l.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return l
}

// find returns the first event of type typ for which match holds.
func (l *eventLog) find(typ string, match func(signal.StreamData) bool) (signal.StreamEvent, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, raw := range l.events {
		var ev signal.StreamEvent
		if json.Unmarshal(raw, &ev) == nil && ev.Type == typ && (match == nil || match(ev.Data)) {
			return ev, true
		}
	}
	return signal.StreamEvent{}, false
}

func (l *eventLog) wait(typ string, timeout time.Duration, match func(signal.StreamData) bool) signal.StreamEvent {
	l.t.Helper()
	var ev signal.StreamEvent
	waitUntil(l.t, "event "+typ, timeout, func() bool {
		var ok bool
		ev, ok = l.find(typ, match)
		return ok
	})
	return ev
}

// Two nodes on one NATS. A stream on the first shows a known picture: the
// node publishes a match event for the sample below the decision, the
// stream's started and ended events, and the block, whose key goes on the
// fleet's blocklist; the same publisher is then refused at connect time by
// the second node, which says so in a refused event. Blocks that name a
// key or an address end the hosted streams that present them and reach
// every node's admission.
func TestEventsAndFleetBlocklist(t *testing.T) {
	img := testenv.WritePNG(t, "known.png", testenv.KnownImage(32, 640, 360))
	list := knownList(t, img)
	a := runNode(t, nodeOpts{index: list, id: "node-a"})
	b := runNode(t, nodeOpts{index: list, id: "node-b", natsURL: a.node.NATSURL()})
	events := collectEvents(t, a.nc)

	p := testenv.Publish(t, a.rtmpURL("kb"), testenv.PublishOptions{Image: img, ImageAt: 3 * time.Second})
	st := a.waitStream("kb", 10*time.Second)
	if st.KeyHash != ingest.KeyHash("kb") {
		t.Fatalf("stream key hash %q, want that of its name", st.KeyHash)
	}
	if !p.WaitExit(context.Background(), 15*time.Second) {
		t.Fatal("known picture not blocked")
	}
	started := events.wait(signal.TypeStreamStarted, 5*time.Second, func(d signal.StreamData) bool { return d.Stream.ID == "kb" })
	if started.Data.Stream.Node != "node-a" || started.Data.Stream.Protocol != "rtmp" || !strings.HasPrefix(started.Data.Stream.RemoteAddr, "127.0.0.1:") ||
		started.Data.Stream.KeySHA256 != ingest.KeyHash("kb") {
		t.Errorf("started event: %+v", started.Data.Stream)
	}
	ended := events.wait(signal.TypeStreamEnded, 5*time.Second, func(d signal.StreamData) bool { return d.Stream.ID == "kb" })
	if ended.Data.Reason != "blocked" || ended.Data.Stats == nil || ended.Data.Stats.Samples == 0 || ended.Data.Stats.Matches < 2 {
		t.Errorf("ended event: %+v %+v", ended.Data, ended.Data.Stats)
	}
	events.mu.Lock()
	var matches []signal.MatchEvent
	for _, raw := range events.events {
		if ev, err := signal.ParseMatch(raw); err == nil {
			matches = append(matches, ev)
		}
	}
	events.mu.Unlock()
	if len(matches) == 0 {
		t.Fatal("no match event for the sample below the decision")
	}
	if m := matches[0].Data; m.Stream.ID != "kb" || m.Matches[0].Label != "test-known-image" || m.Policy == nil || m.Policy.MinMatches != 2 {
		t.Errorf("match event: %+v", m)
	}

	// The key is on the fleet's blocklist, as its hash.
	js, _ := jetstream.New(a.nc)
	kv, err := js.KeyValue(context.Background(), signal.BucketBlocklist)
	if err != nil {
		t.Fatal(err)
	}
	var entry signal.BlocklistEntry
	waitUntil(t, "blocklist entry in the bucket", 5*time.Second, func() bool {
		e, err := kv.Get(context.Background(), signal.BlocklistKey(signal.BlockKindKey, ingest.KeyHash("kb")))
		return err == nil && json.Unmarshal(e.Value(), &entry) == nil
	})
	if d := time.Until(entry.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour || entry.Reason != "match" {
		t.Errorf("blocklist entry %+v", entry)
	}

	// The same publisher on the other node is refused before any media.
	again := testenv.Publish(t, b.rtmpURL("kb"), testenv.PublishOptions{Duration: 20 * time.Second})
	if !again.WaitExit(context.Background(), 10*time.Second) {
		t.Fatal("blocked publisher admitted by the second node")
	}
	if _, err := again.Exit(); err == nil {
		t.Error("refused publisher exited cleanly")
	}
	refused := events.wait(signal.TypeStreamRefused, 5*time.Second, func(d signal.StreamData) bool { return d.Stream.Node == "node-b" })
	if refused.Data.Reason != "blocklisted" || refused.Data.Stream.KeySHA256 != ingest.KeyHash("kb") || refused.Data.Stream.ID != "kb" {
		t.Errorf("refused event: %+v", refused.Data)
	}
	if got := b.metric(`vigil_admissions_total{protocol="rtmp",reason="blocklist",result="refused"}`); got != 1 {
		t.Errorf("node-b refused %v publishers, want 1", got)
	}

	// A block naming only a key (in clear) and an address: a hosted stream
	// presenting the key ends, and both reach every node's admission.
	victim := testenv.Publish(t, b.rtmpURL("victim"), testenv.PublishOptions{})
	b.waitStream("victim", 10*time.Second)
	ban := signal.NewBlockEvent("test://moderator", signal.Block{
		Target: &signal.Target{Key: "victim", RemoteAddr: "10.9.8.7:4000", TTLSeconds: 600}, Reason: signal.ReasonManual, Note: "ban",
	})
	raw, _ := json.Marshal(ban)
	if err := a.nc.Publish(signal.BlockSubject(""), raw); err != nil {
		t.Fatal(err)
	}
	if !victim.WaitExit(context.Background(), 5*time.Second) {
		t.Fatal("stream presenting a banned key still running")
	}
	for _, h := range []*harness{a, b} {
		waitUntil(t, "ban reaches admission", 5*time.Second, func() bool {
			kerr := h.node.blocklisted(context.Background(), ingest.Request{Protocol: "rtmp", Name: "x", ID: "x", Key: "victim", Remote: "192.0.2.1:1"})
			aerr := h.node.blocklisted(context.Background(), ingest.Request{Protocol: "rtmp", Name: "y", ID: "y", Key: "other", Remote: "10.9.8.7:5555"})
			return errorsIs(kerr, ingest.ErrRefused) && errorsIs(aerr, ingest.ErrRefused)
		})
		if err := h.node.blocklisted(context.Background(), ingest.Request{Protocol: "rtmp", Name: "z", ID: "z", Key: "fine", Remote: "10.9.8.8:1"}); err != nil {
			t.Errorf("unlisted publisher refused: %v", err)
		}
	}
	// The bucket holds the key's hash, never the key.
	keys, _ := kv.ListKeys(context.Background())
	for k := range keys.Keys() {
		e, err := kv.Get(context.Background(), k)
		if err == nil && strings.Contains(string(e.Value()), "victim") {
			t.Errorf("bucket holds a key in clear: %s", e.Value())
		}
	}
	if _, err := kv.Get(context.Background(), signal.BlocklistKey(signal.BlockKindAddr, "10.9.8.7")); err != nil {
		t.Errorf("address entry: %v", err)
	}

	// Lifting a ban (what `vigil blocklist rm` does) reaches every node's
	// admission; lifting it twice says there was nothing to lift.
	listed, err := a.node.bus.ListBlocklist(context.Background())
	if err != nil || len(listed) != 3 {
		t.Fatalf("listed %+v: %v", listed, err)
	}
	// The ban's two entries expire in 10 minutes, the earlier match's key
	// in a day: soonest first.
	if listed[0].Note != "ban" || listed[1].Note != "ban" || listed[2].Reason != "match" ||
		!slices.ContainsFunc(listed, func(e signal.BlocklistEntry) bool { return e.Kind == "key" && e.Value == ingest.KeyHash("victim") }) {
		t.Errorf("listed %+v", listed)
	}
	if err := a.node.bus.DeleteBlocklist(context.Background(), signal.BlockKindAddr, "10.9.8.7"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*harness{a, b} {
		waitUntil(t, "lifted ban reaches admission", 5*time.Second, func() bool {
			return h.node.blocklisted(context.Background(), ingest.Request{Key: "other", Remote: "10.9.8.7:5555"}) == nil
		})
	}
	err = a.node.bus.DeleteBlocklist(context.Background(), signal.BlockKindAddr, "10.9.8.7")
	if !errorsIs(err, signal.ErrNotBlocked) {
		t.Errorf("lifting twice: %v", err)
	}
}

// Subscribers never hold the node up. A core subscriber on vigil.> that
// never reads, and an events stream that has gone away while something
// still listens on its subjects without answering (so every event publish
// waits for an acknowledgement that never comes): detection and
// enforcement keep their budgets, and the events that cannot go out are
// dropped and counted.
func TestSlowSubscriberNeverDelays(t *testing.T) {
	img := testenv.WritePNG(t, "known.png", testenv.KnownImage(33, 640, 360))
	h := runNode(t, nodeOpts{index: knownList(t, img), args: []string{"--events-queue", "1", "--min-matches", "3"}})

	// The slow one: a buffer of one message that nobody reads.
	slow, err := nats.Connect(h.node.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	stuck := make(chan *nats.Msg)
	sub, err := slow.ChanSubscribe("vigil.>", stuck)
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(1, 1<<10)
	// The absent one: VIGIL_EVENTS deleted, its subjects heard but never
	// answered.
	js, _ := jetstream.New(h.nc)
	if err := js.DeleteStream(context.Background(), signal.StreamEvents); err != nil {
		t.Fatal(err)
	}
	mute, err := nats.Connect(h.node.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	for _, subj := range signal.EventSubjects {
		if _, err := mute.Subscribe(subj, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	_ = mute.Flush()
	_ = slow.Flush()
	blocks := h.blocks()

	// Background streams that start and end keep the event queue busy.
	for _, name := range []string{"noise1", "noise2", "noise3"} {
		testenv.Publish(t, h.rtmpURL(name), testenv.PublishOptions{Duration: 3 * time.Second})
	}
	known := testenv.Publish(t, h.rtmpURL("slowsub"), testenv.PublishOptions{Image: img, ImageAt: 4 * time.Second})
	imageShown := known.Started.Add(4 * time.Second)
	var received time.Time
	select {
	case <-blocks:
		received = time.Now()
	case <-time.After(20 * time.Second):
		t.Fatal("no block signal")
	}
	// min-matches 3 at one sample per 2 s GOP: the verdict needs the third
	// matching keyframe, about 4 s after the first.
	if d := received.Sub(imageShown); d > 7*time.Second {
		t.Errorf("signal %s after the picture appeared, want within 7 s at min-matches 3", d)
	} else {
		t.Logf("signal %s after the picture appeared", d.Round(time.Millisecond))
	}
	if !known.WaitExit(context.Background(), 2*time.Second) {
		t.Fatal("publisher not cut within 2 s of the signal")
	}
	cut, _ := known.Exit()
	if d := cut.Sub(received); d > time.Second {
		t.Errorf("publisher cut %s after the signal, want within 1 s", d)
	}
	if got := h.metric("vigil_local_enforcements_total"); got != 0 {
		t.Errorf("local enforcements %v: the round trip should have worked", got)
	}
	if dropped := h.metricSum("vigil_events_dropped_total"); dropped < 2 {
		t.Errorf("events dropped: %v; the stuck publisher should have dropped some", dropped)
	}
	if h.metricSum("vigil_events_published_total") > 0 {
		t.Error("events published with no stream to take them")
	}
}
