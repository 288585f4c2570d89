package signal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.LeakOptions()...) }

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
	raw, _ = json.Marshal(NewBlockEvent("s", Block{Target: &Target{KeySHA256: strings.Repeat("ab", 32)}, Reason: ReasonManual}))
	f.Add(raw)
	f.Add([]byte(`{"specversion":"1.0"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseBlock(b)
		if err != nil {
			return
		}
		if ev.Data.Stream.ID == "" && ev.Data.Target == nil {
			t.Fatalf("valid event names neither a stream nor a target: %s", b)
		}
	})
}

// Every block valid under the first revision of the schema stays valid;
// the additions (target, key_sha256) validate, and a block must name a
// stream or a target.
func TestSchemaCompatible(t *testing.T) {
	// The example from the README of the first revision, verbatim.
	old := `{"specversion":"1.0","type":"vigil.block.v1","source":"vigil://node/node-1","id":"d0b6d94d1e1cbca50c47db6313a570cf",
	"time":"2026-11-28T05:09:15.386716272Z","subject":"demo","datacontenttype":"application/json","data":{
	"stream":{"id":"demo","name":"demo","session":"f48fa9daf054f73c","protocol":"rtmp","remote_addr":"127.0.0.1:35104","node":"node-1","started_at":"2026-11-28T05:09:07.747Z"},
	"reason":"match","matches":[{"list":"hashes.txt","id":"1","label":"demo","algorithm":"phash","distance":0,"stream_time":5.067,"hash":"a4cc9a933c6d9336","quality":100}],
	"policy":{"name":"min-matches-in-window","min_matches":2,"window_seconds":10,"max_distance":{"pdq":31,"phash":10},"min_quality":50},
	"decided_at":"2026-11-28T05:09:15.386704094Z"}}`
	if err := ValidateBlock([]byte(old)); err != nil {
		t.Fatalf("a first-revision signal is no longer valid: %v", err)
	}
	hash := strings.Repeat("0f", 32)
	valid := []Block{
		{Stream: StreamRef{ID: "cam"}, Reason: ReasonManual},
		{Target: &Target{Key: "secret-key"}, Reason: ReasonManual, Note: "key leaked"},
		{Target: &Target{KeySHA256: hash, TTLSeconds: 3600}, Reason: ReasonManual},
		{Target: &Target{RemoteAddr: "2001:db8::1"}, Reason: ReasonManual},
		{Stream: StreamRef{ID: "cam", KeySHA256: hash}, Target: &Target{KeySHA256: hash, RemoteAddr: "10.0.0.1"}, Reason: ReasonManual},
	}
	for i, b := range valid {
		ev := NewBlockEvent("test", b)
		raw, _ := json.Marshal(ev)
		if err := ValidateBlock(raw); err != nil {
			t.Errorf("block %d: %v\n%s", i, err, raw)
		}
		if b.Stream.ID == "" && (ev.Subject != TargetToken || BlockSubject(b.Stream.ID) != "vigil.block.%target") {
			t.Errorf("block %d without a stream: subject %q", i, ev.Subject)
		}
	}
	invalid := map[string]string{
		// The schema would not see these; Go's decoder would use them.
		"member differing by case":  `{"reason":"manual","stream":{"id":"ok"},"Stream":{"id":"a.b"}}`,
		"member differing by fold":  `{"reason":"manual","stream":{"id":"ok"},"ſtream":{"id":"a.b"}}`,
		"member given twice":        `{"reason":"manual","stream":{"id":"ok"},"stream":{"id":"ok2"}}`,
		"neither stream nor target": `{"reason":"manual"}`,
		"empty target":              `{"reason":"manual","target":{}}`,
		"target with only a ttl":    `{"reason":"manual","target":{"ttl_seconds":60}}`,
		"bad key hash":              `{"reason":"manual","target":{"key_sha256":"XYZ"}}`,
		"zero ttl":                  `{"reason":"manual","target":{"key":"k","ttl_seconds":0}}`,
	}
	for name, data := range invalid {
		raw := `{"specversion":"1.0","type":"vigil.block.v1","source":"t","id":"x","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":` + data + `}`
		if err := ValidateBlock([]byte(raw)); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", name, err)
		}
	}
}

// The schemas repeat the definitions they share; they must not drift.
func TestSchemaSharedDefinitions(t *testing.T) {
	defs := func(name string) map[string]json.RawMessage {
		var doc struct {
			Defs map[string]json.RawMessage `json:"$defs"`
		}
		if err := json.Unmarshal(Schema(name), &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return doc.Defs
	}
	block := defs(SchemaBlock)
	for _, name := range []string{SchemaMatch, SchemaStream} {
		for def, raw := range defs(name) {
			if want, ok := block[def]; ok && string(want) != string(raw) {
				t.Errorf("%s: $defs/%s differs from %s's", name, def, SchemaBlock)
			}
		}
	}
}

func TestEventSchemas(t *testing.T) {
	now := time.Now().UTC()
	ref := StreamRef{ID: "cam", Name: "cam", Session: "s1", Protocol: "rtmp", RemoteAddr: "127.0.0.1:5000", Node: "n1", StartedAt: &now, KeySHA256: strings.Repeat("ab", 32)}
	b := sampleBlock()
	events := []any{
		NewMatchEvent("vigil://node/n1", MatchData{Stream: ref, Matches: b.Matches, Policy: b.Policy}),
		NewStreamEvent(TypeStreamStarted, "vigil://node/n1", StreamData{Stream: ref}),
		NewStreamEvent(TypeStreamEnded, "vigil://node/n1", StreamData{Stream: ref, Reason: "blocked", Detail: "blocked by signal x", EndedAt: &now,
			Stats: &StreamStats{DurationSeconds: 12.5, Units: 300, Decoded: 7, Samples: 6, Matches: 2}}),
		NewStreamEvent(TypeStreamRefused, "vigil://node/n1", StreamData{Stream: StreamRef{ID: "cam", Protocol: "rtmp", RemoteAddr: "10.0.0.1:1", Node: "n1"}, Reason: "blocklisted"}),
	}
	for _, ev := range events {
		raw, _ := json.Marshal(ev)
		typ, err := ValidateEvent(raw)
		if err != nil {
			t.Errorf("%s: %v\n%s", typ, err, raw)
		}
	}
	raw, _ := json.Marshal(events[0])
	if ev, err := ParseMatch(raw); err != nil || len(ev.Data.Matches) != 1 || ev.Data.Stream.ID != "cam" {
		t.Fatalf("ParseMatch: %+v, %v", ev, err)
	}
	bad := map[string]any{
		"match without matches":    NewMatchEvent("n", MatchData{Stream: ref}),
		"ended without a reason":   NewStreamEvent(TypeStreamEnded, "n", StreamData{Stream: ref, EndedAt: &now}),
		"refused without a reason": NewStreamEvent(TypeStreamRefused, "n", StreamData{Stream: ref}),
		"unsafe stream id":         NewStreamEvent(TypeStreamStarted, "n", StreamData{Stream: StreamRef{ID: "a.b"}}),
	}
	for name, ev := range bad {
		raw, _ := json.Marshal(ev)
		if _, err := ValidateEvent(raw); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", name, err)
		}
	}
	if _, err := ValidateEvent([]byte(`{"type":"vigil.unknown.v9"}`)); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("unknown type accepted: %v", err)
	}
}

func FuzzValidateEvent(f *testing.F) {
	now := time.Now().UTC()
	for _, ev := range []any{
		NewMatchEvent("n", MatchData{Stream: StreamRef{ID: "cam"}, Matches: sampleBlock().Matches}),
		NewStreamEvent(TypeStreamEnded, "n", StreamData{Stream: StreamRef{ID: "cam"}, Reason: "publisher", EndedAt: &now}),
	} {
		raw, _ := json.Marshal(ev)
		f.Add(raw)
	}
	f.Add([]byte(`{"type":"vigil.match.v1","data":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, err := ValidateEvent(b)
		if err != nil {
			return
		}
		switch SchemaForType(typ) {
		case SchemaMatch:
			if ev, err := ParseMatch(b); err != nil || len(ev.Data.Matches) == 0 {
				t.Fatalf("valid match event does not parse: %v", err)
			}
		case SchemaStream:
			if ev, err := ParseStreamEvent(b); err != nil || ev.Data.Stream.ID == "" {
				t.Fatalf("valid stream event does not parse: %v", err)
			}
		}
	})
}

func FuzzParseJob(f *testing.F) {
	raw, _ := json.Marshal(Job{ID: "j1", URL: "rtmp://origin/live/x", Name: "x", Protocol: "pull", SubmittedAt: time.Now().UTC()})
	f.Add(raw)
	f.Add([]byte(`{"id":"a b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := ParseJob(b)
		if err != nil {
			return
		}
		if j.ID == "" || j.URL == "" || j.Name == "" || (j.Protocol != "pull" && j.Protocol != "whep") {
			t.Fatalf("valid job with missing fields: %+v", j)
		}
	})
}
