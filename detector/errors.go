package detector

import "errors"

var (
	// ErrBadHash is returned for a hash string of the wrong length or with
	// characters that are not hex digits.
	ErrBadHash = errors.New("detector: bad hash")
	// ErrUnknownAlgorithm is returned for an algorithm name this package
	// does not implement.
	ErrUnknownAlgorithm = errors.New("detector: unknown algorithm")
	// ErrMixedAlgorithms is returned when a comparison or a list mixes
	// hashes of different algorithms.
	ErrMixedAlgorithms = errors.New("detector: mixed algorithms")
	// ErrImageTooSmall is returned for a plane too small to hash.
	ErrImageTooSmall = errors.New("detector: image too small")
	// ErrImageTooLarge is returned when an image exceeds the pixel limit.
	ErrImageTooLarge = errors.New("detector: image too large")
	// ErrUnsupportedFormat is returned for image data in a format no
	// registered decoder recognises.
	ErrUnsupportedFormat = errors.New("detector: unsupported image format")
	// ErrBadImage is returned for an image file that is truncated or
	// corrupt; it wraps the decoder's own error.
	ErrBadImage = errors.New("detector: bad image")
)

// Errors of the index, its lists and its file.
var (
	// ErrIndexTooLarge is returned when entries or their strings outgrow
	// the index's 32-bit offsets.
	ErrIndexTooLarge = errors.New("detector: index too large")
	// ErrIndexCorrupt is returned for a compiled index file that is
	// truncated, fails its checksum or does not hold together.
	ErrIndexCorrupt = errors.New("detector: index file corrupt")
	// ErrIndexVersion is returned for a compiled index file written by a
	// newer version of the format than this build reads.
	ErrIndexVersion = errors.New("detector: index file version not supported")
	// ErrUnknownFormat is returned for a source that is none of the hash
	// list formats (hex lines, vPDQ, CSV) nor a compiled index.
	ErrUnknownFormat = errors.New("detector: unrecognised list format")
	// ErrMediaSource is returned for a list source that is an image or a
	// video: such sources have to be hashed first, which the list readers
	// do not do.
	ErrMediaSource = errors.New("detector: image or video source")
	// ErrMalformedLine is wrapped by the error of a line a list reader could
	// not use; in strict mode it ends the read.
	ErrMalformedLine = errors.New("detector: malformed line")
)
