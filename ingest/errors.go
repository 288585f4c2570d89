package ingest

import "errors"

var (
	// ErrStreamExists refuses a second publisher on a live stream name.
	ErrStreamExists = errors.New("ingest: stream name already live")
	// ErrBadStreamName refuses an empty or over-long stream name.
	ErrBadStreamName = errors.New("ingest: bad stream name")
	// ErrBlocked is the cause a stream ends with when a block signal names it.
	ErrBlocked = errors.New("ingest: stream blocked")
	// ErrShutdown is the cause streams end with when the node stops.
	ErrShutdown = errors.New("ingest: node shutting down")
	// ErrUnsupportedMedia refuses a stream whose video the node cannot watch.
	ErrUnsupportedMedia = errors.New("ingest: unsupported media")
)
