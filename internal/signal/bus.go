package signal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/internal/ratelog"
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
	// Replicas is the replica count of the streams and buckets this bus
	// creates (1 when zero); a clustered deployment uses 3.
	Replicas int
	// Auth is how to authenticate and secure the connection.
	Auth Auth
}

// Auth holds the ways to authenticate to an external NATS server; at most
// one of CredsFile, NKeyFile, User or Token, and TLS on top of any.
type Auth struct {
	// CredsFile is a credentials file (user JWT and NKey seed).
	CredsFile string
	// NKeyFile is a file holding an NKey seed (SU...).
	NKeyFile string
	// User and Password authenticate with a user name and password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// CAFile holds the PEM certificates the server's is verified against;
	// setting it requires TLS.
	CAFile string
	// CertFile and KeyFile are the client certificate and key, for servers
	// that verify clients.
	CertFile, KeyFile string
}

// Validate reports a combination Connect cannot use.
func (a Auth) Validate() error {
	methods := 0
	for _, set := range []bool{a.CredsFile != "", a.NKeyFile != "", a.User != "", a.Token != ""} {
		if set {
			methods++
		}
	}
	var errs []error
	if methods > 1 {
		errs = append(errs, errors.New("signal: give one of a credentials file, an NKey seed file, a user or a token"))
	}
	if a.Password != "" && a.User == "" {
		errs = append(errs, errors.New("signal: a NATS password needs a user"))
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		errs = append(errs, errors.New("signal: a NATS client certificate needs its key, and a key its certificate"))
	}
	return errors.Join(errs...)
}

func (a Auth) options() ([]nats.Option, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	var opts []nats.Option
	switch {
	case a.CredsFile != "":
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	case a.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("signal: nkey %s: %w", a.NKeyFile, err)
		}
		opts = append(opts, o)
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	}
	if a.CAFile != "" {
		opts = append(opts, nats.RootCAs(a.CAFile))
	}
	if a.CertFile != "" {
		opts = append(opts, nats.ClientCert(a.CertFile, a.KeyFile))
	}
	return opts, nil
}

// Bus is the node's NATS connection with JetStream.
type Bus struct {
	cfg BusConfig
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger

	// Invalid counts signals received that failed to parse or validate.
	Invalid atomic.Uint64
	// OnInvalid, when set before subscribing, is called for each of them.
	OnInvalid func(subject string, err error)

	invalidLog *ratelog.Logger // the invalid-signal line, once a second at most

	mu          sync.Mutex
	reconnected chan struct{} // closed and replaced at each reconnect
}

// Connect connects to NATS. It keeps reconnecting forever in the background
// once connected: a node outlives a NATS restart. Publishes made while
// disconnected fail at once instead of being buffered: signals have their
// outbox, events are best-effort.
func Connect(ctx context.Context, cfg BusConfig, log *slog.Logger) (*Bus, error) {
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 2 * time.Second
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	authOpts, err := cfg.Auth.options()
	if err != nil {
		return nil, err
	}
	log = log.With("component", "nats")
	b := &Bus{cfg: cfg, log: log, invalidLog: ratelog.New(log, time.Second), reconnected: make(chan struct{})}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("reconnected", "url", c.ConnectedUrlRedacted())
			b.mu.Lock()
			close(b.reconnected)
			b.reconnected = make(chan struct{})
			b.mu.Unlock()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// Permission violations and slow-consumer notices arrive here;
			// consumers missing heartbeats during an outage too, and
			// recover on their own.
			if errors.Is(err, nats.ErrConsumerNotActive) {
				log.Debug("nats error", "err", err)
				return
			}
			log.Warn("nats error", "err", err)
		}),
	}
	nc, err := nats.Connect(cfg.URLs, append(opts, authOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("signal: connect %s: %w", cfg.URLs, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("signal: jetstream: %w", err)
	}
	b.nc, b.js = nc, js
	if cfg.NoSetup {
		return b, nil
	}
	if err := b.EnsureStreams(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// Close drains nothing and closes the connection.
func (b *Bus) Close() { b.nc.Close() }

// Conn is the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the connection's JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Connected reports whether the connection is up now.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// Reconnected returns a channel closed at the next reconnect.
func (b *Bus) Reconnected() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reconnected
}

// Replicas is the replica count of what this bus creates.
func (b *Bus) Replicas() int { return b.cfg.Replicas }

// PublishTimeout bounds each publish's wait for an acknowledgement.
func (b *Bus) PublishTimeout() time.Duration { return b.cfg.PublishTimeout }

// EnsureStreams creates or updates the block and event streams. A node
// calls it at connect, and again when a publish finds no stream (a NATS
// server that came back without its storage).
func (b *Bus) EnsureStreams(ctx context.Context) error {
	for _, sc := range []jetstream.StreamConfig{{
		Name:        StreamBlocks,
		Description: "Vigil block signals",
		Subjects:    []string{SubjectBlockPrefix + ">"},
		MaxAge:      30 * 24 * time.Hour,
		Duplicates:  10 * time.Minute,
	}, {
		Name:        StreamEvents,
		Description: "Vigil match and stream events",
		Subjects:    EventSubjects,
		MaxAge:      7 * 24 * time.Hour,
		MaxBytes:    1 << 30,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
	}} {
		sc.Storage = jetstream.FileStorage
		sc.Retention = jetstream.LimitsPolicy
		sc.MaxMsgSize = MaxEventBytes
		sc.Replicas = b.cfg.Replicas
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("signal: stream %s: %w", sc.Name, err)
		}
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
	if err := b.Publish(ctx, BlockSubject(ev.Data.Stream.ID), ev.ID, raw); err != nil {
		return fmt.Errorf("signal: publish block %s for %s: %w", ev.ID, ev.Data.Stream.ID, err)
	}
	return nil
}

// Publish publishes one encoded CloudEvent to subject with JetStream and
// Nats-Msg-Id id, and waits at most the publish timeout for the
// acknowledgement.
func (b *Bus) Publish(ctx context.Context, subject, id string, raw []byte) error {
	if len(raw) > MaxEventBytes {
		return fmt.Errorf("signal: event %s: %w", id, ErrEventTooLarge)
	}
	msg := nats.NewMsg(subject)
	msg.Data = raw
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	if _, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
		return err
	}
	return nil
}

// SubscribeBlocks calls fn for every block signal published from now on
// (with all set, every one the stream still holds), in order, until ctx
// ends. Signals that fail validation are logged (at most once a second),
// counted in Invalid and skipped. fn runs on the subscription's goroutine
// and must not block for long.
func (b *Bus) SubscribeBlocks(ctx context.Context, all bool, fn func(Event)) error {
	return b.subscribe(ctx, StreamBlocks, []string{SubjectBlockPrefix + ">"}, all, func(m jetstream.Msg) {
		ev, err := ParseBlock(m.Data())
		if err != nil {
			b.invalid(m.Subject(), err)
			return
		}
		fn(ev)
	})
}

// SubscribeEvents calls fn with the subject and the raw, schema-valid
// CloudEvent of every match and stream event from now on (with all set,
// every one the stream still holds), until ctx ends.
func (b *Bus) SubscribeEvents(ctx context.Context, all bool, fn func(subject string, raw []byte)) error {
	return b.subscribe(ctx, StreamEvents, EventSubjects, all, func(m jetstream.Msg) {
		if _, err := ValidateEvent(m.Data()); err != nil {
			b.invalid(m.Subject(), err)
			return
		}
		fn(m.Subject(), m.Data())
	})
}

func (b *Bus) subscribe(ctx context.Context, stream string, subjects []string, all bool, fn func(jetstream.Msg)) error {
	policy := jetstream.DeliverNewPolicy
	if all {
		policy = jetstream.DeliverAllPolicy
	}
	cons, err := b.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects,
		DeliverPolicy:  policy,
	})
	if err != nil {
		return fmt.Errorf("signal: subscribe %s: %w", stream, err)
	}
	cc, err := cons.Consume(fn)
	if err != nil {
		return fmt.Errorf("signal: subscribe %s: %w", stream, err)
	}
	context.AfterFunc(ctx, cc.Stop)
	return nil
}

// invalid counts, reports and logs (at most once a second) a signal that
// failed validation: whoever may publish must not flood the log.
func (b *Bus) invalid(subject string, err error) {
	b.Invalid.Add(1)
	if b.OnInvalid != nil {
		b.OnInvalid(subject, err)
	}
	b.invalidLog.Warn("ignoring invalid signal", "subject", subject, "err", err)
}

// IsUnavailable reports whether err means NATS could not take a publish
// (no connection, no JetStream, no acknowledgement in time).
func IsUnavailable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrConnectionReconnecting)
}
