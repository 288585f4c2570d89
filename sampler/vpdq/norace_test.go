//go:build !race

package vpdq

// raceDetector is true in a -race build, where decoding and hashing run
// several times slower.
const raceDetector = false
