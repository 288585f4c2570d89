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
	// the frame is given up on and a keyframe asked for.
	maxLateTime = 500 * time.Millisecond
	// resyncAfter packets in a row outside the window of sequence
	// numbers, at most once per resyncEvery, restart the sample builder.
	resyncAfter = 8
	resyncEvery = time.Second
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

	haveSeq bool
	highSeq uint16 // highest sequence number seen
	// next is the lowest sequence number not received yet; got marks the
	// ones received past it. A hole is a missing next with later packets
	// in: holeSince is when it opened.
	next      uint16
	got       [2 * maxLatePackets / 64]uint64
	holeSince time.Time
	// outside counts consecutive packets outside the window; resynced is
	// when a run of them last started a new builder.
	outside  int
	resynced time.Time

	started bool
	lastTS  uint32
	ts      int64 // RTP timestamp since the first frame, unwrapped

	// Dropped counts frames dropped as malformed or too large, and
	// packets dropped as malformed, duplicate or too late.
	Dropped uint64
	// Gaps counts the times packets were given up on (lost, or a
	// restarted sequence): what follows may not decode until the next
	// keyframe.
	Gaps uint64
}

func newDepacketizer(codec sampler.Codec, maxFrame int) *depacketizer {
	return &depacketizer{codec: codec, maxFrame: maxFrame, sb: newSampleBuilder(codec, maxFrame)}
}

// newSampleBuilder has no WithMaxTimeDelay: pion's time-based purge
// rescans the builder's window on every packet and, fed hostile sequence
// numbers, takes seconds a packet. push gives up on lost packets itself.
func newSampleBuilder(codec sampler.Codec, maxFrame int) *samplebuilder.SampleBuilder {
	bd := &boundedDepacketizer{Depacketizer: newCodecDepacketizer(codec), codec: codec, max: maxFrame}
	return samplebuilder.New(maxLatePackets, bd, videoClockRate)
}

// push adds one packet and emits every access unit it completes; it
// reports a gap when packets were given up on, so the caller can ask for a
// keyframe. The packet is kept until its frame is complete: the caller must
// not reuse it.
//
// Packets more than maxLatePackets away from the newest are dropped, so
// the builder's window of sequence numbers never exceeds twice
// maxLatePackets: pion walks that window slot by slot, and fed hostile
// sequence numbers its purges cost far more. A packet missing for
// maxLateTime (retransmission did not bring it) is given up on: the
// builder is flushed and goes on from the newest packet.
func (d *depacketizer) push(pkt *rtp.Packet, arrival time.Time, emit func(sampler.AccessUnit)) (gap bool) {
	if !wellFormed(d.codec, pkt.Payload) {
		d.Dropped++
		return false
	}
	seq := pkt.SequenceNumber
	if !d.haveSeq {
		d.haveSeq, d.highSeq, d.next = true, seq, seq
	}
	if diff := int(int16(seq - d.highSeq)); diff < -maxLatePackets || diff > maxLatePackets || diff == -1<<15 {
		// Out of the window: a sender that restarted its sequence, or
		// hostile packets. Only a run of such packets, at most once a
		// second, starts a new builder (which costs a megabyte).
		d.outside++
		if d.outside < resyncAfter || (!d.resynced.IsZero() && arrival.Sub(d.resynced) < resyncEvery) {
			d.Dropped++
			return false
		}
		gap = true
		d.Gaps++
		d.sb = newSampleBuilder(d.codec, d.maxFrame)
		d.resynced, d.outside = arrival, 0
		d.highSeq, d.next, d.got, d.holeSince = seq, seq, [len(d.got)]uint64{}, time.Time{}
	} else {
		d.outside = 0
		if diff > 0 {
			d.highSeq = seq
		}
	}
	if int16(seq-d.next) < 0 || d.has(seq) {
		// Given up on already, or a duplicate.
		d.Dropped++
		return gap
	}
	d.mark(seq, true)
	for d.has(d.next) {
		d.mark(d.next, false)
		d.next++
	}
	switch {
	case int16(d.highSeq-d.next) < 0:
		d.holeSince = time.Time{}
	case d.holeSince.IsZero():
		d.holeSince = arrival
	}

	d.sb.Push(pkt)
	d.pop(arrival, emit)
	if !d.holeSince.IsZero() && (arrival.Sub(d.holeSince) > maxLateTime || int(d.highSeq-d.next) > maxLatePackets) {
		gap = true
		d.Gaps++
		d.sb.Flush()
		d.pop(arrival, emit)
		d.next, d.got, d.holeSince = d.highSeq+1, [len(d.got)]uint64{}, time.Time{}
	}
	return gap
}

func (d *depacketizer) has(seq uint16) bool {
	i := seq % (2 * maxLatePackets)
	return d.got[i/64]&(1<<(i%64)) != 0
}

func (d *depacketizer) mark(seq uint16, on bool) {
	i := seq % (2 * maxLatePackets)
	if on {
		d.got[i/64] |= 1 << (i % 64)
	} else {
		d.got[i/64] &^= 1 << (i % 64)
	}
}

// pop emits every sample the builder has ready.
func (d *depacketizer) pop(arrival time.Time, emit func(sampler.AccessUnit)) {
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

// wellFormed checks a payload's header before the sample builder sees it:
// when pion's depacketizer fails on a packet inside a frame, the builder
// leaves its bookkeeping in a state that later costs a walk over its whole
// window, so malformed packets are kept out. The checks are those pion's
// depacketizers make.
func wellFormed(codec sampler.Codec, payload []byte) bool {
	switch codec {
	case sampler.H264:
		if len(payload) < 1 {
			return false
		}
		switch t := payload[0] & 0x1f; {
		case t >= 1 && t <= 23:
			return true
		case t == 24: // STAP-A: every length must fit
			for rest := payload[1:]; len(rest) > 0; {
				if len(rest) < 2 {
					return true // pion ignores a trailing byte
				}
				n := int(rest[0])<<8 | int(rest[1])
				if len(rest)-2 < n {
					return false
				}
				rest = rest[2+n:]
			}
			return true
		case t == 28: // FU-A
			return len(payload) >= 2
		}
		return false
	case sampler.VP8:
		var p codecs.VP8Packet
		_, err := p.Unmarshal(payload)
		return err == nil
	case sampler.VP9:
		var p codecs.VP9Packet
		_, err := p.Unmarshal(payload)
		return err == nil
	default:
		return len(payload) > 1
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
