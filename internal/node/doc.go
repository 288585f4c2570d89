// Package node assembles a Vigil node from its configuration: the index,
// NATS (embedded or external), the stream registry, the protocol servers,
// each stream's sampling and detection stages, the enforcement subscription
// and the HTTP listener. It is what `vigil serve` runs.
package node
