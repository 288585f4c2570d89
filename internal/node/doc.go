// Package node assembles a Vigil node from its configuration: the index,
// NATS (embedded or external), the stream registry, the protocol servers,
// each stream's sampling and detection stages, the enforcement subscription
// and the HTTP listener. Its NATS side beyond that (signals.go and the
// files beside it) is the signal outbox, match and stream events, the
// blocklist admission, and the fleet: join jobs, heartbeats and the
// fleet's index. It is what `vigil serve` runs.
package node
