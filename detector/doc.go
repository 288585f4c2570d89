// Package detector turns sampled luma planes into perceptual hashes, matches
// them against an index of known material, and decides per stream when the
// matches amount to a verdict.
//
// It owns the hash algorithms (PDQ, pHash), the hash-list formats and the
// index, and the decision policy. It never keeps or emits pixels: what leaves
// this package is hashes, distances and list entries.
package detector
