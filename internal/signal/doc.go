// Package signal is everything the node says and hears over NATS: the
// CloudEvents formats and JSON schemas of block signals, match and stream
// events and join jobs; publishing with JetStream acknowledgements and the
// durable outbox that keeps block signals until NATS takes them; the
// subscriptions through which blocks and events arrive; the fleet's
// buckets (blocklist, heartbeats), work queue (jobs) and object store
// (index); connection security for external servers; and the embedded
// NATS server used when no external one is configured.
package signal
