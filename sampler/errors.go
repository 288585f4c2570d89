package sampler

import "errors"

var (
	// ErrUnsupportedCodec is returned for a codec the node cannot decode.
	ErrUnsupportedCodec = errors.New("sampler: unsupported codec")
	// ErrNoParameterSets is returned when a keyframe arrives before any
	// parameter sets (SPS/PPS) are known.
	ErrNoParameterSets = errors.New("sampler: no parameter sets")
	// ErrPictureTooLarge is returned for pictures over the pixel limit.
	ErrPictureTooLarge = errors.New("sampler: picture exceeds pixel limit")
)
