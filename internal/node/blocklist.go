package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
)

// blocklist is the node's copy of the fleet's blocklist (the VIGIL_BLOCKLIST
// bucket), kept current by a watcher, so that admission never waits on
// NATS. Entries the node applied itself while NATS was down are in it too.
type blocklist struct {
	mu      sync.RWMutex
	entries map[string]signal.BlocklistEntry // by bucket key
}

func (b *blocklist) get(key string, now time.Time) (signal.BlocklistEntry, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	e, ok := b.entries[key]
	if !ok || !now.Before(e.ExpiresAt) {
		return signal.BlocklistEntry{}, false
	}
	return e, true
}

// put keeps e unless an entry for the key lasts longer already.
func (b *blocklist) put(key string, e signal.BlocklistEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.entries[key]; ok && old.ExpiresAt.After(e.ExpiresAt) {
		return
	}
	b.entries[key] = e
}

func (b *blocklist) del(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, key)
}

// len counts the live entries and forgets the expired ones.
func (b *blocklist) len(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, e := range b.entries {
		if !now.Before(e.ExpiresAt) {
			delete(b.entries, k)
		}
	}
	return len(b.entries)
}

// list returns the live entries, soonest to expire first.
func (b *blocklist) list(now time.Time) []signal.BlocklistEntry {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := []signal.BlocklistEntry{}
	for _, e := range b.entries {
		if now.Before(e.ExpiresAt) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b signal.BlocklistEntry) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return strings.Compare(a.Kind+a.Value, b.Kind+b.Value)
	})
	return out
}

// errBlocklisted is the cause of a refusal by the blocklist.
var errBlocklisted = fmt.Errorf("%w: %w", ingest.ErrRefused, ingest.ErrBlocklisted)

// blocklisted refuses a publisher whose stream key or address is on the
// fleet's blocklist. It reads the node's copy only, so it never waits on
// NATS. It is the admission step the node installs; a fuller admission
// chain calls it first.
func (n *Node) blocklisted(_ context.Context, req ingest.Request) error {
	now := time.Now()
	if req.Key != "" {
		if e, ok := n.sig.blocklist.get(signal.BlocklistKey(signal.BlockKindKey, ingest.KeyHash(req.Key)), now); ok {
			return fmt.Errorf("%w: stream key blocked until %s by %s signal %s", errBlocklisted, e.ExpiresAt.UTC().Format(time.RFC3339), e.Reason, e.Event)
		}
	}
	if ip, ok := signal.NormalizeAddr(req.Remote); ok {
		if e, ok := n.sig.blocklist.get(signal.BlocklistKey(signal.BlockKindAddr, ip), now); ok {
			return fmt.Errorf("%w: address %s blocked until %s by %s signal %s", errBlocklisted, ip, e.ExpiresAt.UTC().Format(time.RFC3339), e.Reason, e.Event)
		}
	}
	return nil
}

// matchTarget is what the node's own match verdict on st puts on the
// blocklist (--blocklist-on-match), or nil.
func (n *Node) matchTarget(st *ingest.Stream) *signal.Target {
	t := &signal.Target{}
	mode := n.cfg.BlocklistOnMatch
	if (mode == "key" || mode == "key+addr") && st.KeyHash != "" {
		t.KeySHA256 = st.KeyHash
	}
	if mode == "addr" || mode == "key+addr" {
		if ip, ok := signal.NormalizeAddr(st.Remote); ok {
			t.RemoteAddr = ip
		}
	}
	if *t == (signal.Target{}) {
		return nil
	}
	return t
}

// applyTarget blocklists what a block's target names (locally at once, and
// in the bucket through the writer) and ends the hosted streams presenting
// that key or coming from that address. It reports whether it ended any.
func (n *Node) applyTarget(ev signal.Event, reason error) bool {
	t := ev.Data.Target
	if t == nil {
		return false
	}
	ttl := n.cfg.BlocklistTTL
	if t.TTLSeconds > 0 {
		ttl = time.Duration(t.TTLSeconds) * time.Second
	}
	// Expiry counts from the event's time, so every node that applies the
	// same block agrees on it, however late the signal reaches it.
	expires := ev.Time.Add(ttl)
	if !time.Now().Before(expires) {
		return false
	}
	base := signal.BlocklistEntry{Event: ev.ID, Source: ev.Source, Reason: ev.Data.Reason, Stream: ev.Data.Stream.ID,
		Note: ev.Data.Note, At: ev.Time, ExpiresAt: expires}
	var keyHash, ip string
	switch {
	case t.KeySHA256 != "":
		keyHash = t.KeySHA256
	case t.Key != "":
		keyHash = ingest.KeyHash(t.Key)
	}
	if t.RemoteAddr != "" {
		var ok bool
		if ip, ok = signal.NormalizeAddr(t.RemoteAddr); !ok {
			n.log.Warn("block names an address that is not an IP; ignored", "event", ev.ID, "addr", t.RemoteAddr)
		}
	}
	for _, e := range []struct{ kind, value string }{{signal.BlockKindKey, keyHash}, {signal.BlockKindAddr, ip}} {
		if e.value == "" {
			continue
		}
		entry := base
		entry.Kind, entry.Value = e.kind, e.value
		n.sig.blocklist.put(signal.BlocklistKey(e.kind, e.value), entry)
		select {
		case n.sig.blWrites <- entry:
		default:
			// Every node that receives the block writes the same entry;
			// this node's copy is not the only one.
			n.metrics.blocklistWrites.WithLabelValues("dropped").Inc()
		}
		n.log.Info("blocklisted", "kind", e.kind, "value", e.value, "until", expires.UTC().Format(time.RFC3339), "event", ev.ID)
	}
	ended := false
	for _, st := range n.reg.List() {
		if keyHash != "" && st.KeyHash == keyHash || ip != "" && remoteIP(st.Remote) == ip {
			st.Close(reason)
			ended = true
			n.log.Info("stream blocked by its key or address", "stream", st.ID, "event", ev.ID, "source", ev.Source)
		}
	}
	return ended
}

func remoteIP(remote string) string {
	ip, _ := signal.NormalizeAddr(remote)
	return ip
}

// loadBlocklist reads the bucket into the node's copy before the node
// serves, and keeps the watcher for watchBlocklist.
func (n *Node) loadBlocklist(ctx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("node: blocklist: %w", err)
	}
	n.sig.blWatch = w
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return fmt.Errorf("node: blocklist: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("node: blocklist: watcher closed")
			}
			if e == nil {
				n.log.Info("blocklist loaded", "entries", n.sig.blocklist.len(time.Now()))
				return nil
			}
			n.blocklistUpdate(e)
		}
	}
}

// watchBlocklist applies the bucket's changes until ctx ends.
func (n *Node) watchBlocklist(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-n.sig.blWatch.Updates():
			if !ok {
				return
			}
			if e != nil {
				n.blocklistUpdate(e)
			}
		}
	}
}

func (n *Node) blocklistUpdate(e jetstream.KeyValueEntry) {
	switch e.Operation() {
	case jetstream.KeyValuePut:
		var be signal.BlocklistEntry
		if err := json.Unmarshal(e.Value(), &be); err != nil || be.ExpiresAt.IsZero() {
			n.log.Warn("blocklist entry unreadable; ignored", "key", e.Key(), "err", err)
			return
		}
		n.sig.blocklist.put(e.Key(), be)
	default: // deleted (a ban lifted) or expired
		n.sig.blocklist.del(e.Key())
	}
}

// writeBlocklist writes entries the node applied to the bucket. Every node
// that receives a block writes its entries; the writes carry the same
// Nats-Msg-Id, so the bucket stores each once.
func (n *Node) writeBlocklist(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-n.sig.blWrites:
			if !n.bus.Connected() {
				n.metrics.blocklistWrites.WithLabelValues("dropped").Inc()
				continue
			}
			if err := n.bus.PutBlocklist(ctx, e); err != nil {
				n.metrics.blocklistWrites.WithLabelValues("failed").Inc()
				n.log.Warn("blocklist entry not written to the bucket", "kind", e.Kind, "value", e.Value, "err", err)
				continue
			}
			n.metrics.blocklistWrites.WithLabelValues("ok").Inc()
		}
	}
}
