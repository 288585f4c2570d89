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

// Params describes a video track as ingest learned it from the protocol:
// the codec and its out-of-band parameter sets.
type Params struct {
	Codec Codec
	// Parameter sets of H.264 (SPS, PPS) and HEVC (VPS, SPS, PPS), without
	// start codes. They are also accepted in-band in access units.
	VPS, SPS, PPS []byte
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
	// Frame holds the coded frame of VP8, VP9 and AV1 units.
	Frame []byte
}

// Size is the number of coded bytes in the unit.
func (au *AccessUnit) Size() int {
	n := len(au.Frame)
	for _, nalu := range au.NALUs {
		n += len(nalu)
	}
	return n
}

// H.264 NAL unit types the sampler looks at.
const (
	h264NALUIDR = 5
	h264NALUSPS = 7
	h264NALUPPS = 8
)

// H264IsKey reports whether an H.264 access unit holds an IDR picture.
func H264IsKey(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]&0x1f == h264NALUIDR {
			return true
		}
	}
	return false
}
