package signal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
