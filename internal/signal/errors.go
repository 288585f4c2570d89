package signal

import "errors"

var (
	// ErrInvalidEvent is returned for an event that is not valid JSON or
	// does not satisfy the event's JSON schema.
	ErrInvalidEvent = errors.New("signal: invalid event")
	// ErrEventTooLarge refuses an event over MaxEventBytes.
	ErrEventTooLarge = errors.New("signal: event too large")
)
