package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/internal/signal"
)

const signalsUsage = `Usage: vigil signals tail [--all] [--types block,match,stream] [NATS flags]

Prints block signals, match events (vigil.match.<stream>) and stream events
(vigil.stream.started, .ended, .refused) as they arrive, one CloudEvent in
JSON per line, until interrupted. Events that fail their schema are
reported on stderr and skipped. With --all it first prints every event the
streams still hold (VIGIL_BLOCKS, then VIGIL_EVENTS).

Example:
  vigil signals tail --nats-url nats://127.0.0.1:4222
  vigil signals tail --types block --all

Flags:
`

func runSignals(ctx context.Context, args, env []string, io stdio) error {
	if len(args) == 0 || args[0] != "tail" {
		fmt.Fprint(io.err, signalsUsage)
		return fmt.Errorf("%w: vigil signals tail", errUsage)
	}
	fs := flag.NewFlagSet("vigil signals tail", flag.ContinueOnError)
	fs.SetOutput(io.err)
	nf := bindNATSFlags(fs, env)
	all := fs.Bool("all", false, "print the events already stored first")
	typeList := fs.String("types", "block,match,stream", "which events to print: block, match, stream, comma-separated")
	fs.Usage = func() { fmt.Fprint(io.err, signalsUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	types := strings.Split(*typeList, ",")
	for _, t := range types {
		if !slices.Contains([]string{"block", "match", "stream"}, t) {
			return fmt.Errorf("%w: --types: %q is not block, match or stream", errUsage, t)
		}
	}
	log := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bus, err := signal.Connect(ctx, nf.bus("vigil signals tail"), log)
	if err != nil {
		return err
	}
	defer bus.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &linePrinter{w: io.out, cancel: cancel}
	if slices.Contains(types, "block") {
		err := bus.SubscribeBlocks(ctx, *all, func(ev signal.Event) { p.event(ev) })
		if err != nil {
			return err
		}
	}
	wantMatch, wantStream := slices.Contains(types, "match"), slices.Contains(types, "stream")
	if wantMatch || wantStream {
		err := bus.SubscribeEvents(ctx, *all, func(subject string, raw []byte) {
			if strings.HasPrefix(subject, signal.SubjectMatchPrefix) && wantMatch || !strings.HasPrefix(subject, signal.SubjectMatchPrefix) && wantStream {
				p.raw(raw)
			}
		})
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			// Nodes older than the events stream: blocks only.
			fmt.Fprintln(io.err, "vigil signals tail: no", signal.StreamEvents, "stream yet; printing blocks only")
		} else if err != nil {
			return err
		}
	}
	<-ctx.Done()
	return p.err()
}

// linePrinter writes one event per line from the subscriptions'
// goroutines, and stops the tail at the first write error.
type linePrinter struct {
	w      io.Writer
	cancel context.CancelFunc
	mu     sync.Mutex
	werr   error
}

func (p *linePrinter) event(ev signal.Event) {
	raw, err := json.Marshal(ev)
	if err == nil {
		p.raw(raw)
	}
}

func (p *linePrinter) raw(raw []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.werr != nil {
		return
	}
	if _, err := p.w.Write(append(slices.Clip(raw), '\n')); err != nil {
		p.werr = err
		p.cancel()
	}
}

func (p *linePrinter) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}

func envOr(env []string, key, def string) string {
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			return kv[len(key)+1:]
		}
	}
	return def
}
