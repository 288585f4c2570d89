package signal

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BucketNodes is the KV bucket where every node publishes its heartbeat
// and capacity under its node id (NodeKey). Each heartbeat carries a TTL
// of three intervals, so a node that dies disappears from the bucket on
// its own.
const BucketNodes = "VIGIL_NODES"

// NodeStatus is a node's heartbeat.
type NodeStatus struct {
	Node      string    `json:"node"`
	At        time.Time `json:"at"`
	StartedAt time.Time `json:"started_at"`
	// IntervalSeconds is the heartbeat interval; an entry not refreshed
	// within three of them is gone.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Capacity is how many fleet jobs the node runs at once; Jobs are
	// those it runs now.
	Capacity int         `json:"capacity"`
	Jobs     []JobStatus `json:"jobs"`
	// Streams is the number of streams the node hosts (jobs included).
	Streams      int    `json:"streams"`
	IndexVersion string `json:"index_version"`
	IndexEntries int    `json:"index_entries"`
	// Outbox is the number of signals waiting for NATS.
	Outbox int `json:"outbox"`
}

// JobStatus is a job a node runs.
type JobStatus struct {
	ID      string    `json:"id"`
	Stream  string    `json:"stream"`
	Since   time.Time `json:"since"`
	Attempt uint64    `json:"attempt"`
}

// NodeKey is a node id as a KV key: bytes outside [A-Za-z0-9_-] are
// written =XX.
func NodeKey(node string) string {
	var b strings.Builder
	for i := 0; i < len(node); i++ {
		c := node[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// Nodes opens the nodes bucket, creating it when missing.
func (b *Bus) Nodes(ctx context.Context) (jetstream.KeyValue, error) {
	return b.bucket(ctx, jetstream.KeyValueConfig{
		Bucket:         BucketNodes,
		Description:    "Vigil: node heartbeats and capacity",
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       b.cfg.Replicas,
		LimitMarkerTTL: time.Minute,
	})
}

// PutHeartbeat publishes s under its node's key with a TTL of ttl.
func (b *Bus) PutHeartbeat(ctx context.Context, s NodeStatus, ttl time.Duration) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("signal: heartbeat: %w", err)
	}
	msg := nats.NewMsg("$KV." + BucketNodes + "." + NodeKey(s.Node))
	msg.Data = raw
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	if _, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(ttl.Round(time.Second))); err != nil {
		return fmt.Errorf("signal: heartbeat of %s: %w", s.Node, err)
	}
	return nil
}

// ListNodes returns the heartbeats in the bucket now.
func ListNodes(ctx context.Context, kv jetstream.KeyValue) ([]NodeStatus, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signal: nodes: %w", err)
	}
	var out []NodeStatus
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // expired between list and get
		}
		var s NodeStatus
		if json.Unmarshal(e.Value(), &s) == nil {
			out = append(out, s)
		}
	}
	return out, nil
}
