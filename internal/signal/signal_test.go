package signal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startBus(t *testing.T) (*Embedded, *Bus) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := StartEmbedded(EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	b, err := Connect(context.Background(), BusConfig{URLs: e.ClientURL(), Name: "test"}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return e, b
}

func sampleBlock() Block {
	now := time.Now().UTC()
	return Block{
		Stream:    StreamRef{ID: "a%2Eb", Name: "a.b", Session: "s1", Protocol: "rtmp", RemoteAddr: "127.0.0.1:5000", Node: "n1", StartedAt: &now},
		Reason:    ReasonMatch,
		Matches:   []Match{{List: "demo", ID: "3", Label: "x", Algorithm: "phash", Distance: 2, StreamTime: 4.0, Hash: "d1c4a5b6e7f80912", Quality: 100}},
		Policy:    &Policy{Name: "min-matches-in-window", MinMatches: 2, WindowSeconds: 10, MaxDistance: map[string]int{"phash": 10}, MinQuality: 50},
		DecidedAt: &now,
	}
}

func TestPublishSubscribeBlock(t *testing.T) {
	_, b := startBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Event, 4)
	if err := b.SubscribeBlocks(ctx, false, func(ev Event) { got <- ev }); err != nil {
		t.Fatal(err)
	}
	ev := NewBlockEvent("vigil://node/n1", sampleBlock())
	if err := b.PublishBlock(ctx, ev); err != nil {
		t.Fatal(err)
	}
	// The same event again is deduplicated by its id.
	if err := b.PublishBlock(ctx, ev); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g.ID != ev.ID || g.Data.Stream.ID != "a%2Eb" || len(g.Data.Matches) != 1 {
			t.Fatalf("got %+v", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no block received")
	}
	js, _ := jetstream.New(b.Conn())
	st, err := js.Stream(ctx, StreamBlocks)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1 (dedup by Nats-Msg-Id)", info.State.Msgs)
	}
	raw, err := st.GetLastMsgForSubject(ctx, BlockSubject("a%2Eb"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateBlock(raw.Data); err != nil {
		t.Fatalf("published event fails its schema: %v", err)
	}
}

func TestSubscribeSkipsInvalid(t *testing.T) {
	_, b := startBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Event, 4)
	if err := b.SubscribeBlocks(ctx, false, func(ev Event) { got <- ev }); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"{not json", `{"specversion":"1.0"}`} {
		if err := b.Conn().Publish(SubjectBlockPrefix+"x", []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	good := NewBlockEvent("test", Block{Stream: StreamRef{ID: "x"}, Reason: ReasonManual})
	if err := b.PublishBlock(ctx, good); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g.ID != good.ID {
			t.Fatalf("got %s, want the valid event %s", g.ID, good.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("valid block after invalid ones not received")
	}
	if n := b.Invalid.Load(); n != 2 {
		t.Fatalf("invalid = %d, want 2", n)
	}
}

func TestSchemaRejects(t *testing.T) {
	base := NewBlockEvent("s", sampleBlock())
	tests := []struct {
		name   string
		mutate func(map[string]any)
	}{
		{"wrong specversion", func(m map[string]any) { m["specversion"] = "0.3" }},
		{"no id", func(m map[string]any) { delete(m, "id") }},
		{"unsafe stream id", func(m map[string]any) { m["data"].(map[string]any)["stream"].(map[string]any)["id"] = "a.b" }},
		{"match without matches", func(m map[string]any) { delete(m["data"].(map[string]any), "matches") }},
		{"unknown reason", func(m map[string]any) { m["data"].(map[string]any)["reason"] = "vibes" }},
		{"bad hash", func(m map[string]any) {
			m["data"].(map[string]any)["matches"].([]any)[0].(map[string]any)["hash"] = "xyz"
		}},
	}
	raw, _ := json.Marshal(base)
	if err := ValidateBlock(raw); err != nil {
		t.Fatalf("base event invalid: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			tt.mutate(m)
			bad, _ := json.Marshal(m)
			if _, err := ParseBlock(bad); !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("err = %v, want ErrInvalidEvent", err)
			}
		})
	}
}

func FuzzParseBlock(f *testing.F) {
	raw, _ := json.Marshal(NewBlockEvent("s", sampleBlock()))
	f.Add(raw)
	f.Add([]byte(`{"specversion":"1.0"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseBlock(b)
		if err != nil {
			return
		}
		if ev.Data.Stream.ID == "" {
			t.Fatalf("valid event without stream id: %s", b)
		}
	})
}
