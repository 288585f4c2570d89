// Package scan runs the node's sampling and matching offline, on files and
// URLs: the same demuxer, sampler policy, border crop, hashers and index as
// a live stream, with the decision policy replaced by "report every match".
// `vigil scan` and the decoding benchmarks drive it.
package scan
