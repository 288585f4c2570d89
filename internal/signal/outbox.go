package signal

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// OutboxConfig configures a signal outbox.
type OutboxConfig struct {
	// Path is the outbox file (bbolt).
	Path string
	// MaxSignals bounds the signals kept; a signal beyond it is not kept
	// (see Outbox).
	MaxSignals int
	// MaxAge drops a signal still unpublished after this long.
	MaxAge time.Duration
	// RetryInterval is the wait between attempts while NATS does not take
	// the oldest signal (default 1 s); a reconnect retries at once.
	RetryInterval time.Duration
}

// Outbox keeps block signals on disk, fsync'd, until JetStream has
// acknowledged them, and publishes them in the order they were added. Every
// signal goes through it: a signal is durable before its first attempt, so
// neither a NATS outage nor a crash of the node loses it, and since each
// is published with its event id as Nats-Msg-Id, a replay of one NATS did
// take (an acknowledgement lost on the way) is stored once.
//
// Policy at the limits: a signal that would make the outbox hold more than
// MaxSignals is not kept (Add returns ErrOutboxFull; the caller enforces it
// locally anyway and logs it in full), so the signals already waiting keep
// their order; a signal older than MaxAge when its turn comes is dropped
// and logged in full at ERROR. Both are counted.
//
// The zero Outbox is not usable; open one with OpenOutbox. Run drains it;
// its methods are safe for concurrent use.
type Outbox struct {
	cfg OutboxConfig
	db  *bolt.DB
	log *slog.Logger

	wake chan struct{}

	mu      sync.Mutex
	acked   uint64 // highest sequence acknowledged
	waiters map[uint64]chan struct{}
	pending int // signals held, acknowledged ones not yet deleted excluded

	deleted   atomic.Uint64       // highest sequence deleted from the file
	carried   uint64              // highest sequence left by an earlier run
	failedSeq map[uint64]struct{} // owned by Run: signals that failed once
	now       func() time.Time    // the clock; tests turn it

	// DroppedFull counts signals refused because the outbox was full,
	// DroppedExpired those dropped for age, Replayed those published after
	// at least one failed attempt, Published every acknowledged signal.
	DroppedFull, DroppedExpired, Replayed, Published atomic.Uint64
	// OnPublished, when set before Run, is called after each
	// acknowledgement with the signal's event id.
	OnPublished func(id string)
}

var outboxBucket = []byte("signals")

// outboxRecord is one stored signal.
type outboxRecord struct {
	Subject string          `json:"subject"`
	ID      string          `json:"id"`
	Added   time.Time       `json:"added"`
	Data    json.RawMessage `json:"data"`
}

// OpenOutbox opens (creating it) the outbox at cfg.Path. Another process
// holding the file makes it fail within a second rather than wait.
func OpenOutbox(cfg OutboxConfig, log *slog.Logger) (*Outbox, error) {
	if cfg.MaxSignals <= 0 {
		cfg.MaxSignals = 100_000
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("signal: outbox %s: %w", cfg.Path, err)
	}
	o := &Outbox{cfg: cfg, db: db, log: log.With("component", "outbox"), wake: make(chan struct{}, 1),
		waiters: make(map[uint64]chan struct{}), failedSeq: make(map[uint64]struct{}), now: time.Now}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(outboxBucket)
		if err != nil {
			return err
		}
		o.pending = b.Stats().KeyN
		if k, _ := b.Cursor().Last(); k != nil {
			o.carried = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("signal: outbox %s: %w", cfg.Path, err)
	}
	if o.pending > 0 {
		o.log.Warn("signals left from an earlier run; replaying them", "pending", o.pending)
	}
	return o, nil
}

// ErrOutboxFull refuses a signal when the outbox holds MaxSignals.
var ErrOutboxFull = errors.New("signal: outbox full")

// Add stores ev durably (the write is fsync'd before Add returns) and wakes
// the drain. It returns the signal's sequence number for Wait.
func (o *Outbox) Add(ev Event) (uint64, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("signal: outbox: block %s: %w", ev.ID, err)
	}
	if len(raw) > MaxEventBytes {
		return 0, fmt.Errorf("signal: outbox: block %s: %w", ev.ID, ErrEventTooLarge)
	}
	return o.add(BlockSubject(ev.Data.Stream.ID), ev.ID, raw)
}

func (o *Outbox) add(subject, id string, raw []byte) (uint64, error) {
	o.mu.Lock()
	full := o.pending >= o.cfg.MaxSignals
	if !full {
		o.pending++ // reserve the place
	}
	o.mu.Unlock()
	if full {
		o.DroppedFull.Add(1)
		return 0, fmt.Errorf("%w: %d signals waiting for NATS; signal %s not kept", ErrOutboxFull, o.cfg.MaxSignals, id)
	}
	rec, _ := json.Marshal(outboxRecord{Subject: subject, ID: id, Added: o.now().UTC(), Data: raw})
	var seq uint64
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxBucket)
		s, err := b.NextSequence()
		if err != nil {
			return err
		}
		seq = s
		return b.Put(seqKey(s), rec)
	})
	if err != nil {
		o.mu.Lock()
		o.pending--
		o.mu.Unlock()
		return 0, fmt.Errorf("signal: outbox: store %s: %w", id, err)
	}
	o.Wake()
	return seq, nil
}

// Wake makes the drain try now.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Wait returns nil once the signal with sequence seq is acknowledged, or
// ctx's error first.
func (o *Outbox) Wait(ctx context.Context, seq uint64) error {
	o.mu.Lock()
	if seq <= o.acked {
		o.mu.Unlock()
		return nil
	}
	ch, ok := o.waiters[seq]
	if !ok {
		ch = make(chan struct{})
		o.waiters[seq] = ch
	}
	o.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Len is the number of signals waiting for an acknowledgement.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pending
}

// Oldest is when the oldest waiting signal was added, or the zero time.
func (o *Outbox) Oldest() time.Time {
	o.mu.Lock()
	after := o.acked
	o.mu.Unlock()
	var t time.Time
	_ = o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(outboxBucket).Cursor()
		k, v := c.Seek(seqKey(after + 1))
		if k == nil {
			return nil
		}
		var rec outboxRecord
		if json.Unmarshal(v, &rec) == nil {
			t = rec.Added
		}
		return nil
	})
	return t
}

// Run publishes the outbox's signals through bus, oldest first, until ctx
// ends: at once when woken, after every reconnect, and every RetryInterval
// while signals wait.
func (o *Outbox) Run(ctx context.Context, bus *Bus) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		err := o.drain(ctx, bus)
		if err == nil {
			o.deleteAcked()
		}
		wait := time.Duration(0)
		if err != nil {
			wait = o.cfg.RetryInterval
		}
		if wait > 0 {
			retry.Reset(wait)
		}
		select {
		case <-ctx.Done():
			o.deleteAcked()
			return
		case <-o.wake:
		case <-bus.Reconnected():
		case <-retryC(retry, wait > 0):
		}
	}
}

func retryC(t *time.Timer, armed bool) <-chan time.Time {
	if armed {
		return t.C
	}
	return nil
}

// Flush waits until the outbox is empty or ctx ends, and reports how many
// signals it still holds then. Run must be running.
func (o *Outbox) Flush(ctx context.Context) (int, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		n := o.Len()
		if n == 0 {
			return 0, nil
		}
		o.Wake()
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-t.C:
		}
	}
}

// drain publishes waiting signals in order until none is left or one is
// not acknowledged. Acknowledged signals are deleted in batches: one that
// is acknowledged but not yet deleted when the node dies is published once
// more at the next start, and deduplicated by JetStream.
func (o *Outbox) drain(ctx context.Context, bus *Bus) error {
	for {
		o.mu.Lock()
		after := o.acked
		o.mu.Unlock()
		seq, rec, ok, err := o.next(after)
		if errors.Is(err, errBadRecord) {
			o.log.Error("outbox record unreadable; dropped", "seq", seq, "err", err)
			o.ack(seq)
			continue
		}
		if err != nil || !ok {
			return err
		}
		if age := o.now().Sub(rec.Added); age > o.cfg.MaxAge {
			o.DroppedExpired.Add(1)
			o.log.Error("signal older than the outbox's max age dropped unpublished", "event", rec.ID,
				"subject", rec.Subject, "age", age.Round(time.Second), "signal", string(rec.Data))
			delete(o.failedSeq, seq)
			o.ack(seq)
			continue
		}
		if !bus.Connected() {
			o.failedSeq[seq] = struct{}{}
			return errNotConnected
		}
		err = bus.Publish(ctx, rec.Subject, rec.ID, rec.Data)
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			// A server that came back without its storage: recreate
			// the streams; the next pass tries again.
			if serr := bus.EnsureStreams(ctx); serr != nil {
				o.log.Warn("cannot recreate the signal streams", "err", serr)
			}
		}
		if err != nil {
			o.log.Debug("signal not acknowledged; will retry", "event", rec.ID, "err", err)
			o.failedSeq[seq] = struct{}{}
			return err
		}
		if _, again := o.failedSeq[seq]; again || seq <= o.carried {
			o.Replayed.Add(1)
			delete(o.failedSeq, seq)
		}
		o.Published.Add(1)
		if o.OnPublished != nil {
			o.OnPublished(rec.ID)
		}
		o.ack(seq)
		if seq-o.deleted.Load() >= 64 {
			o.deleteAcked()
		}
	}
}

var errNotConnected = errors.New("signal: not connected")

// next reads the first signal after sequence after.
func (o *Outbox) next(after uint64) (uint64, outboxRecord, bool, error) {
	var (
		seq uint64
		rec outboxRecord
		ok  bool
		bad error
	)
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(outboxBucket).Cursor()
		k, v := c.Seek(seqKey(after + 1))
		if k == nil {
			return nil
		}
		seq, ok = binary.BigEndian.Uint64(k), true
		bad = json.Unmarshal(v, &rec)
		return nil
	})
	if err != nil {
		return 0, rec, false, fmt.Errorf("signal: outbox read: %w", err)
	}
	if bad != nil {
		return seq, rec, true, fmt.Errorf("%w: %v", errBadRecord, bad)
	}
	return seq, rec, ok, nil
}

// errBadRecord is a stored signal that does not decode: it can never be
// sent, so it is dropped rather than left to block every signal after it.
var errBadRecord = errors.New("signal: outbox record unreadable")

func (o *Outbox) ack(seq uint64) {
	o.mu.Lock()
	if seq > o.acked {
		o.acked = seq
	}
	o.pending--
	for s, ch := range o.waiters {
		if s <= o.acked {
			close(ch)
			delete(o.waiters, s)
		}
	}
	o.mu.Unlock()
}

// deleteAcked removes acknowledged signals from the file.
func (o *Outbox) deleteAcked() {
	o.mu.Lock()
	upTo := o.acked
	o.mu.Unlock()
	if upTo <= o.deleted.Load() {
		return
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxBucket)
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= upTo; k, _ = c.Next() {
			keys = append(keys, k)
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		o.log.Error("cannot delete published signals from the outbox; they will be published again (deduplicated)", "err", err)
		return
	}
	o.deleted.Store(upTo)
}

// Close deletes what was acknowledged and closes the file.
func (o *Outbox) Close() error {
	o.deleteAcked()
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("signal: outbox close: %w", err)
	}
	return nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
