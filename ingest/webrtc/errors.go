package webrtc

import "errors"

var (
	// ErrUnauthorized refuses a request without a valid bearer token.
	ErrUnauthorized = errors.New("webrtc: missing or wrong bearer token")
	// ErrBadOffer refuses an SDP offer that cannot be parsed or applied.
	ErrBadOffer = errors.New("webrtc: bad SDP offer")
	// ErrNoVideo refuses an offer without a video stream the node can
	// take (H.264, VP8, VP9 or AV1).
	ErrNoVideo = errors.New("webrtc: no usable video in the offer")
	// ErrTooManySessions refuses a session while too many others are still
	// setting up.
	ErrTooManySessions = errors.New("webrtc: too many sessions setting up")
	// ErrSetupTimeout ends a session whose ICE, DTLS or first video packet
	// did not arrive within the setup timeout.
	ErrSetupTimeout = errors.New("webrtc: session setup timed out")
	// ErrSessionDeleted is the cause a WHIP session ends with when its
	// publisher deletes it.
	ErrSessionDeleted = errors.New("webrtc: session deleted by the publisher")
	// ErrPeerGone ends a session whose peer closed the connection or
	// became unreachable.
	ErrPeerGone = errors.New("webrtc: peer connection closed")
	// ErrSourceEnded ends a WHEP join whose source is gone: the server
	// closed the session or no longer knows the stream.
	ErrSourceEnded = errors.New("webrtc: source ended")
	// ErrFrameTooLarge drops a coded frame over the size limit.
	ErrFrameTooLarge = errors.New("webrtc: coded frame too large")
	// ErrBadToken refuses a malformed token list in the configuration.
	ErrBadToken = errors.New("webrtc: bad token")
	// ErrWHEP is a WHEP server's refusal; the message holds its status.
	ErrWHEP = errors.New("webrtc: WHEP request refused")
)
