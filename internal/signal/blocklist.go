package signal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BucketBlocklist is the KV bucket of blocked stream keys and addresses.
// Keys are "key.<sha256 hex>" and "addr.<ip>" (an IPv6 address with '_'
// for ':'); values are BlocklistEntry JSON; each entry carries its own TTL
// (a per-message TTL, nats-server 2.11 or later) and expiry.
const BucketBlocklist = "VIGIL_BLOCKLIST"

// Kinds of blocklist entries.
const (
	BlockKindKey  = "key"
	BlockKindAddr = "addr"
)

// BlocklistEntry is one blocked stream key or address.
type BlocklistEntry struct {
	Kind string `json:"kind"`
	// Value is the key's SHA-256 in hex, or the IP address.
	Value     string    `json:"value"`
	Event     string    `json:"event"`
	Source    string    `json:"source"`
	Reason    string    `json:"reason"`
	Stream    string    `json:"stream,omitempty"`
	Note      string    `json:"note,omitempty"`
	At        time.Time `json:"at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// BlocklistKey is the KV key of an entry.
func BlocklistKey(kind, value string) string {
	if kind == BlockKindAddr {
		value = strings.ReplaceAll(value, ":", "_")
	}
	return kind + "." + value
}

// NormalizeAddr turns an IP address or HOST:PORT into the canonical IP
// string a blocklist entry holds (IPv4-mapped addresses as IPv4, no zone).
func NormalizeAddr(s string) (string, bool) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	return a.Unmap().WithZone("").String(), true
}

// NormalizeBlockValue checks the value of a blocklist entry of the given kind
// and returns it in the form the bucket keys it by: a key's SHA-256 as 64
// lowercase hex digits, an address as NormalizeAddr gives it.
func NormalizeBlockValue(kind, value string) (string, error) {
	switch kind {
	case BlockKindKey:
		if len(value) != 64 || strings.Trim(value, "0123456789abcdef") != "" {
			return "", fmt.Errorf("signal: %q is not a key's SHA-256 in 64 lowercase hex digits", value)
		}
		return value, nil
	case BlockKindAddr:
		ip, ok := NormalizeAddr(value)
		if !ok {
			return "", fmt.Errorf("signal: %q is not an IP address", value)
		}
		return ip, nil
	default:
		return "", fmt.Errorf("signal: blocklist kind %q is not %s or %s", kind, BlockKindKey, BlockKindAddr)
	}
}

// Blocklist opens the blocklist bucket, creating it when missing.
func (b *Bus) Blocklist(ctx context.Context) (jetstream.KeyValue, error) {
	return b.bucket(ctx, jetstream.KeyValueConfig{
		Bucket:         BucketBlocklist,
		Description:    "Vigil: blocked stream keys and addresses",
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       b.cfg.Replicas,
		LimitMarkerTTL: time.Minute,
	})
}

// bucket opens a KV bucket, creating it with cfg when missing. An existing
// bucket is used as it is, so a node or tool with other settings (its
// replica count) never reconfigures the fleet's.
func (b *Bus) bucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := b.js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = b.js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = b.js.KeyValue(ctx, cfg.Bucket) // another node made it first
		}
	}
	if err != nil {
		return nil, fmt.Errorf("signal: bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// PutBlocklist writes e with a TTL that ends at e.ExpiresAt. The Nats-Msg-Id
// is the event id and the key, so the nodes that all receive the same block
// and all write its entry store it once.
func (b *Bus) PutBlocklist(ctx context.Context, e BlocklistEntry) error {
	ttl := time.Until(e.ExpiresAt).Round(time.Second)
	if ttl < time.Second {
		return nil // expired already: nothing to keep
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("signal: blocklist %s: %w", e.Value, err)
	}
	key := BlocklistKey(e.Kind, e.Value)
	msg := nats.NewMsg("$KV." + BucketBlocklist + "." + key)
	msg.Data = raw
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	if _, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(ttl), jetstream.WithMsgID(e.Event+"/"+key)); err != nil {
		return fmt.Errorf("signal: blocklist %s: %w", key, err)
	}
	return nil
}

// ListBlocklist returns the bucket's live entries, soonest to expire first.
// Entries whose own expiry has passed but whose TTL marker has not yet
// removed them are left out, as nodes ignore them too.
func (b *Bus) ListBlocklist(ctx context.Context) ([]BlocklistEntry, error) {
	kv, err := b.Blocklist(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signal: blocklist: %w", err)
	}
	now := time.Now()
	var out []BlocklistEntry
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired or lifted while listing
		}
		if err != nil {
			return nil, fmt.Errorf("signal: blocklist %s: %w", k, err)
		}
		var be BlocklistEntry
		if err := json.Unmarshal(e.Value(), &be); err != nil {
			return nil, fmt.Errorf("signal: blocklist %s: %w", k, err)
		}
		if be.ExpiresAt.After(now) {
			out = append(out, be)
		}
	}
	slices.SortFunc(out, func(a, b BlocklistEntry) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	return out, nil
}

// DeleteBlocklist lifts the block on one key (its SHA-256 in hex) or address.
// Every node watching the bucket drops the entry at once. It reports
// ErrNotBlocked when there was no such entry.
func (b *Bus) DeleteBlocklist(ctx context.Context, kind, value string) error {
	kv, err := b.Blocklist(ctx)
	if err != nil {
		return err
	}
	key := BlocklistKey(kind, value)
	if _, err := kv.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%w: %s", ErrNotBlocked, key)
	} else if err != nil {
		return fmt.Errorf("signal: blocklist %s: %w", key, err)
	}
	if err := kv.Delete(ctx, key); err != nil {
		return fmt.Errorf("signal: blocklist %s: %w", key, err)
	}
	return nil
}
