// Package signal is everything the node says and hears over NATS: the block
// signal's CloudEvents format and JSON schema, publishing with JetStream
// acknowledgements, the subscription through which blocks reach the node,
// and the embedded NATS server used when no external one is configured.
package signal
