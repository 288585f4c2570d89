package webrtc

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
	"github.com/vigilstream/vigil/sampler"
)

const (
	videoClockRate = 90000
	// maxLatePackets is how many packets the sample builder waits for a
	// missing one; it also bounds how many packets one frame may span, so
	// it is sized for large keyframes (about 1.4 MB at 1400 bytes a packet).
	maxLatePackets = 1024
	// maxLateTime bounds the wait for a missing packet in time: past it
	// the frame is given up on, and the sampler resyncs at a keyframe.
	maxLateTime = 500 * time.Millisecond
)

// codecFor maps a negotiated MIME type to the sampler's codec.
func codecFor(mime string) (sampler.Codec, bool) {
	switch strings.ToLower(mime) {
	case strings.ToLower(pion.MimeTypeH264):
		return sampler.H264, true
	case strings.ToLower(pion.MimeTypeVP8):
		return sampler.VP8, true
	case strings.ToLower(pion.MimeTypeVP9):
		return sampler.VP9, true
	case strings.ToLower(pion.MimeTypeAV1):
		return sampler.AV1, true
	}
	return 0, false
}

// newCodecDepacketizer returns pion's depacketizer for codec. H.264 comes
// out length-prefixed (AVC), which splits into NAL units without scanning
// for start codes.
func newCodecDepacketizer(codec sampler.Codec) rtp.Depacketizer {
	switch codec {
	case sampler.H264:
		return &codecs.H264Packet{IsAVC: true}
	case sampler.VP8:
		return &codecs.VP8Packet{}
	case sampler.VP9:
		return &codecs.VP9Packet{}
	default:
		return &codecs.AV1Depacketizer{}
	}
}

// boundedDepacketizer limits what a depacketizer may hold between packets:
// H.264 FU-A and AV1 fragments are buffered until their last fragment, and a
// peer that never sends one would grow the buffer without end.
type boundedDepacketizer struct {
	rtp.Depacketizer
	codec   sampler.Codec
	max     int
	pending int
}

func (b *boundedDepacketizer) Unmarshal(payload []byte) ([]byte, error) {
	b.pending += len(payload)
	if b.pending > b.max {
		b.Depacketizer, b.pending = newCodecDepacketizer(b.codec), 0
		return nil, ErrFrameTooLarge
	}
	out, err := b.Depacketizer.Unmarshal(payload)
	if len(out) > 0 || err != nil {
		b.pending = 0
	}
	return out, err
}

// depacketizer turns one video track's RTP packets into access units. It
// is owned by the track's reader goroutine.
type depacketizer struct {
	codec    sampler.Codec
	sb       *samplebuilder.SampleBuilder
	maxFrame int

	started bool
	lastTS  uint32
	ts      int64 // RTP timestamp since the first frame, unwrapped

	// Dropped counts frames dropped as malformed or too large.
	Dropped uint64
}

func newDepacketizer(codec sampler.Codec, maxFrame int) *depacketizer {
	bd := &boundedDepacketizer{Depacketizer: newCodecDepacketizer(codec), codec: codec, max: maxFrame}
	return &depacketizer{
		codec:    codec,
		maxFrame: maxFrame,
		sb:       samplebuilder.New(maxLatePackets, bd, videoClockRate, samplebuilder.WithMaxTimeDelay(maxLateTime)),
	}
}

// push adds one packet and emits every access unit it completes. The
// packet is kept until its frame is complete: the caller must not reuse it.
func (d *depacketizer) push(pkt *rtp.Packet, arrival time.Time, emit func(sampler.AccessUnit)) {
	d.sb.Push(pkt)
	for {
		s := d.sb.Pop()
		if s == nil {
			return
		}
		au, err := d.unit(s.Data, s.PacketTimestamp, arrival)
		if err != nil {
			d.Dropped++
			continue
		}
		emit(au)
	}
}

// unit turns one depacketized frame into an access unit.
func (d *depacketizer) unit(data []byte, ts uint32, arrival time.Time) (sampler.AccessUnit, error) {
	if len(data) == 0 {
		return sampler.AccessUnit{}, fmt.Errorf("%s: empty frame", d.codec)
	}
	if len(data) > d.maxFrame {
		return sampler.AccessUnit{}, fmt.Errorf("%w: %s frame of %d bytes", ErrFrameTooLarge, d.codec, len(data))
	}
	if !d.started {
		d.started, d.lastTS = true, ts
	}
	d.ts += int64(int32(ts - d.lastTS))
	d.lastTS = ts
	au := sampler.AccessUnit{PTS: time.Duration(d.ts) * time.Second / videoClockRate, Arrival: arrival}
	switch d.codec {
	case sampler.H264:
		nalus, err := splitAVC(data)
		if err != nil {
			return sampler.AccessUnit{}, err
		}
		au.NALUs, au.Key = nalus, sampler.H264IsKey(nalus)
	case sampler.VP8:
		au.Frame, au.Key = data, sampler.VP8IsKey(data)
	case sampler.VP9:
		au.Frame, au.Key = data, sampler.VP9IsKey(data)
	case sampler.AV1:
		au.Frame, au.Key = data, sampler.AV1IsKey(data)
	}
	return au, nil
}

// splitAVC splits 4-byte length-prefixed NAL units. The units share
// data's memory.
func splitAVC(data []byte) ([][]byte, error) {
	var nalus [][]byte
	for len(data) > 0 {
		if len(data) < 4 {
			return nil, fmt.Errorf("h264: %d stray bytes after the last NAL unit", len(data))
		}
		n := binary.BigEndian.Uint32(data)
		data = data[4:]
		if uint64(n) > uint64(len(data)) {
			return nil, fmt.Errorf("h264: NAL unit of %d bytes with %d left", n, len(data))
		}
		if n > 0 {
			nalus = append(nalus, data[:n:n])
		}
		data = data[n:]
	}
	if len(nalus) == 0 {
		return nil, fmt.Errorf("h264: no NAL unit")
	}
	return nalus, nil
}
