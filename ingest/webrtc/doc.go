// Package webrtc is the node's WebRTC ingest, built on pion
// (github.com/pion/webrtc/v4):
//
//   - Server is a WHIP endpoint (RFC 9725): publishers POST an SDP offer to
//     /whip/STREAM and get an answer and a session resource to DELETE.
//   - Client joins streams served elsewhere over WHEP as a viewer.
//
// Both turn the received video (H.264, VP8, VP9 or AV1) into sampler access
// units on an ingest.Stream with pion's depacketizers and sample builder,
// accept and ignore audio, and send a picture loss indication (PLI) when a
// stream starts and whenever the sampler asks for a keyframe. A block on
// the stream closes its peer connection, which the remote peer sees as the
// DTLS session ending.
package webrtc
