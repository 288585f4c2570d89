package sampler

import (
	"fmt"
	"time"
)

// Codec is a video codec the node can ingest.
type Codec uint8

// The video codecs ingest may deliver.
const (
	H264 Codec = iota + 1
	HEVC
	VP8
	VP9
	AV1
)

// String returns the codec's common name.
func (c Codec) String() string {
	switch c {
	case H264:
		return "h264"
	case HEVC:
		return "hevc"
	case VP8:
		return "vp8"
	case VP9:
		return "vp9"
	case AV1:
		return "av1"
	default:
		return fmt.Sprintf("codec(%d)", uint8(c))
	}
}

// Params describes a video track as ingest learned it.
type Params struct {
	Codec Codec
	// Parameter sets of H.264 (SPS, PPS) and HEVC (VPS, SPS, PPS), without
	// start codes, when the protocol carries them out of band. They are
	// also accepted in-band in access units.
	VPS, SPS, PPS []byte
	// Extradata, when set, is the codec's configuration as a demuxer gives
	// it (avcC, hvcC, av1C ...); access units then carry each packet as
	// the demuxer gave it in Frame, and the decoder takes them as they are.
	Extradata []byte
}

// AccessUnit is one coded picture as ingest delivers it.
type AccessUnit struct {
	// PTS is the presentation time on the stream's own clock.
	PTS time.Duration
	// Arrival is when the network reader received the unit; the sampler
	// uses it as the wall clock for sampling intervals.
	Arrival time.Time
	// Key is set when the unit can be decoded without earlier units.
	Key bool
	// NALUs holds the NAL units of H.264 and HEVC units, without start
	// codes. The sampler takes ownership; ingest must not reuse them.
	NALUs [][]byte
	// Frame holds the coded frame of VP8, VP9 and AV1 units, and every
	// unit of a track with Params.Extradata.
	Frame []byte
	// Lent marks a Frame the sampler may use only during Push (it aliases
	// the demuxer's packet); what the sampler keeps, it copies.
	Lent bool
}

// Size is the number of coded bytes in the unit.
func (au *AccessUnit) Size() int {
	n := len(au.Frame)
	for _, nalu := range au.NALUs {
		n += len(nalu)
	}
	return n
}
