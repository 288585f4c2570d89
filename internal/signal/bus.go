package signal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BusConfig configures the node's NATS connection.
type BusConfig struct {
	// URLs are the servers, comma-separated.
	URLs string
	// Name identifies the connection in the server's monitoring.
	Name string
	// PublishTimeout bounds the wait for a JetStream acknowledgement.
	PublishTimeout time.Duration
	// NoSetup skips creating the JetStream streams: for clients that only
	// read, and may lack the permission to create them.
	NoSetup bool
}

// Bus is the node's NATS connection with JetStream.
type Bus struct {
	cfg BusConfig
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger

	// Invalid counts signals received that failed to parse or validate.
	Invalid atomic.Uint64
}

// Connect connects to NATS. It keeps reconnecting forever in the background
// once connected: a node outlives a NATS restart.
func Connect(ctx context.Context, cfg BusConfig, log *slog.Logger) (*Bus, error) {
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 2 * time.Second
	}
	log = log.With("component", "nats")
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("reconnected", "url", c.ConnectedUrlRedacted()) }),
	}
	nc, err := nats.Connect(cfg.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("signal: connect %s: %w", cfg.URLs, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("signal: jetstream: %w", err)
	}
	b := &Bus{cfg: cfg, nc: nc, js: js, log: log}
	if cfg.NoSetup {
		return b, nil
	}
	if err := b.ensureStreams(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// Close drains nothing and closes the connection.
func (b *Bus) Close() { b.nc.Close() }

// Conn is the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

func (b *Bus) ensureStreams(ctx context.Context) error {
	_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamBlocks,
		Description: "Vigil block signals",
		Subjects:    []string{SubjectBlockPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      30 * 24 * time.Hour,
		MaxMsgSize:  MaxEventBytes,
		Duplicates:  10 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("signal: stream %s: %w", StreamBlocks, err)
	}
	return nil
}

// PublishBlock publishes ev to its stream's block subject and waits for
// JetStream's acknowledgement. The event id is the Nats-Msg-Id, so
// publishing the same event twice stores it once.
func (b *Bus) PublishBlock(ctx context.Context, ev Event) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("signal: block %s: %w", ev.ID, err)
	}
	if len(raw) > MaxEventBytes {
		return fmt.Errorf("signal: block %s: %w", ev.ID, ErrEventTooLarge)
	}
	msg := nats.NewMsg(BlockSubject(ev.Data.Stream.ID))
	msg.Data = raw
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	if _, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID)); err != nil {
		return fmt.Errorf("signal: publish block %s for %s: %w", ev.ID, ev.Data.Stream.ID, err)
	}
	return nil
}

// SubscribeBlocks calls fn for every block signal published from now on
// (with all set, every one the stream still holds), in order, until ctx ends. Signals that fail validation are logged,
// counted in Invalid and skipped. fn runs on the subscription's goroutine
// and must not block for long.
func (b *Bus) SubscribeBlocks(ctx context.Context, all bool, fn func(Event)) error {
	policy := jetstream.DeliverNewPolicy
	if all {
		policy = jetstream.DeliverAllPolicy
	}
	cons, err := b.js.OrderedConsumer(ctx, StreamBlocks, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectBlockPrefix + ">"},
		DeliverPolicy:  policy,
	})
	if err != nil {
		return fmt.Errorf("signal: subscribe %s: %w", StreamBlocks, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ev, err := ParseBlock(m.Data())
		if err != nil {
			b.Invalid.Add(1)
			b.log.Warn("ignoring invalid block signal", "subject", m.Subject(), "err", err)
			return
		}
		fn(ev)
	})
	if err != nil {
		return fmt.Errorf("signal: subscribe %s: %w", StreamBlocks, err)
	}
	context.AfterFunc(ctx, cc.Stop)
	return nil
}

// IsUnavailable reports whether err means NATS could not take a publish
// (no connection, no JetStream, no acknowledgement in time).
func IsUnavailable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrDisconnected)
}
