package signal

import "errors"

var (
	// ErrInvalidEvent is returned for an event that is not valid JSON or
	// does not satisfy the event's JSON schema.
	ErrInvalidEvent = errors.New("signal: invalid event")
	// ErrEventTooLarge refuses an event over MaxEventBytes.
	ErrEventTooLarge = errors.New("signal: event too large")
	// ErrNotBlocked is returned when lifting a block that is not in the
	// blocklist (never there, expired, or lifted already).
	ErrNotBlocked = errors.New("signal: not blocklisted")
)
