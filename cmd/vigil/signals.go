package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"log/slog"
	"sync"

	"github.com/vigilstream/vigil/internal/signal"
)

const signalsUsage = `Usage: vigil signals tail [--nats-url URL] [--all]

Prints block signals as they arrive, one JSON event per line, until
interrupted. With --all it first prints every signal the stream still holds.

Example:
  vigil signals tail --nats-url nats://127.0.0.1:4222

Flags:
`

func runSignals(ctx context.Context, args, env []string, io stdio) error {
	if len(args) == 0 || args[0] != "tail" {
		fmt.Fprint(io.err, signalsUsage)
		return fmt.Errorf("%w: vigil signals tail", errUsage)
	}
	fs := flag.NewFlagSet("vigil signals tail", flag.ContinueOnError)
	fs.SetOutput(io.err)
	url := fs.String("nats-url", envOr(env, "VIGIL_NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL(s), comma-separated (env VIGIL_NATS_URL)")
	all := fs.Bool("all", false, "print the signals already stored first")
	fs.Usage = func() { fmt.Fprint(io.err, signalsUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bus, err := signal.Connect(ctx, signal.BusConfig{URLs: *url, Name: "vigil signals tail", NoSetup: true}, log)
	if err != nil {
		return err
	}
	defer bus.Close()
	var mu sync.Mutex
	enc := json.NewEncoder(io.out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var werr error
	err = bus.SubscribeBlocks(ctx, *all, func(ev signal.Event) {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(ev); err != nil && werr == nil {
			werr = err
			cancel()
		}
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	mu.Lock()
	defer mu.Unlock()
	return werr
}

func envOr(env []string, key, def string) string {
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			return kv[len(key)+1:]
		}
	}
	return def
}
