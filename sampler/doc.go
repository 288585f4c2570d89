// Package sampler decodes a stream's access units with FFmpeg (go-astiav),
// decides which pictures to sample, and hands their luma planes, copied into
// Go memory, to the detector.
//
// The decoder is the cost of the node, so the sampling policy decides what
// gets decoded at all: under the keyframe policy only keyframes that are due
// for a sample reach FFmpeg. cgo is confined to this package.
package sampler
