package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/internal/testenv"
)

func TestSignalsTail(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := signal.StartEmbedded(signal.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	bus, err := signal.Connect(context.Background(), signal.BusConfig{URLs: e.ClientURL(), Name: "publisher"}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var out testenv.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"signals", "tail", "--nats-url", e.ClientURL()}, nil, strings.NewReader(""), &out, io.Discard)
	}()
	// The tail subscribes asynchronously: publish fresh events (a repeated
	// id would be deduplicated) until it prints one.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("tail printed nothing: %q", out.String())
		}
		ev := signal.NewBlockEvent("test", signal.Block{Stream: signal.StreamRef{ID: "cam"}, Reason: signal.ReasonManual})
		if err := bus.PublishBlock(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail: %v", err)
	}
	line := strings.SplitN(out.String(), "\n", 2)[0]
	var got signal.Event
	if err := json.Unmarshal([]byte(line), &got); err != nil || got.Data.Stream.ID != "cam" || got.Data.Reason != "manual" {
		t.Fatalf("line %q: %v", line, err)
	}
	if err := signal.ValidateBlock([]byte(line)); err != nil {
		t.Fatalf("printed event fails the schema: %v", err)
	}
}
