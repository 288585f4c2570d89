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
