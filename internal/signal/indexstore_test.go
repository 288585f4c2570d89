package signal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A watcher gets the index there at start and each one published after;
// one whose bytes do not match the version it was published with is
// refused, not handed over.
func TestWatchIndexVerifies(t *testing.T) {
	_, bus := startBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	first := filepath.Join(dir, "first.txt")
	_ = os.WriteFile(first, []byte(strings.Repeat("ab", 32)+",one\n"), 0o600)
	m1, err := bus.PublishIndex(ctx, first, 1, "test")
	if err != nil {
		t.Fatal(err)
	}
	updates := make(chan IndexUpdate, 4)
	refused := make(chan error, 4)
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = bus.WatchIndex(wctx, nil, func(u IndexUpdate) { updates <- u }, func(_ IndexMeta, err error) { refused <- err })
	}()
	defer func() { wcancel(); <-done }()
	select {
	case u := <-updates:
		if u.Meta.Version != m1.Version || u.Meta.Source != "first.txt" || !bytes.Equal(u.Data, mustReadFile(t, first)) {
			t.Fatalf("first update %+v", u.Meta)
		}
	case <-ctx.Done():
		t.Fatal("index there at start not delivered")
	}

	// Bytes that do not match their published version.
	obs, _ := bus.IndexStore(ctx)
	_, err = obs.Put(ctx, jetstream.ObjectMeta{Name: IndexObject, Metadata: map[string]string{metaCRC: "deadbeef", metaSource: "forged.txt"}},
		strings.NewReader(strings.Repeat("cd", 32)+",forged\n"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-refused:
		if !errors.Is(err, ErrIndexChecksum) {
			t.Fatalf("refused with %v, want ErrIndexChecksum", err)
		}
	case u := <-updates:
		t.Fatalf("forged index delivered: %+v", u.Meta)
	case <-ctx.Done():
		t.Fatal("forged index neither refused nor delivered")
	}

	second := filepath.Join(dir, "second.txt")
	_ = os.WriteFile(second, []byte(strings.Repeat("ef", 32)+",two\n"), 0o600)
	m2, err := bus.PublishIndex(ctx, second, 1, "test")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-updates:
		if u.Meta.Version != m2.Version {
			t.Fatalf("second update %+v", u.Meta)
		}
	case <-ctx.Done():
		t.Fatal("index published after the forged one not delivered")
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
