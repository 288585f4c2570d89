package webrtc

import (
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/sampler"
)

// offerSeed is a browser-like WHIP offer.
const offerSeed = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\n" +
	"a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"

// FuzzCheckOffer feeds arbitrary offers to the check that runs before pion
// sees them: it must never panic, and what it accepts holds a sending video
// section.
func FuzzCheckOffer(f *testing.F) {
	f.Add([]byte(offerSeed))
	f.Add([]byte("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_ = checkOffer(raw)
		_ = answerReceivesVideo(string(raw))
	})
}

// FuzzDepacketize feeds arbitrary RTP packets, framed as 2-byte lengths
// and bytes, through the path the video reader takes: RTP parsing, pion's
// depacketizer and sample builder, and splitting into access units. It
// must never panic, and no unit may exceed the frame limit.
func FuzzDepacketize(f *testing.F) {
	for codec := range byte(4) {
		f.Add(codec, seedPackets(codec))
	}
	f.Fuzz(func(t *testing.T, codec byte, stream []byte) {
		c := []sampler.Codec{sampler.H264, sampler.VP8, sampler.VP9, sampler.AV1}[codec%4]
		const maxFrame = 4096
		d := newDepacketizer(c, maxFrame)
		now := time.Unix(0, 0)
		for len(stream) >= 2 {
			n := int(binary.BigEndian.Uint16(stream))
			stream = stream[2:]
			n = min(n, len(stream))
			pkt := &rtp.Packet{}
			if err := pkt.Unmarshal(append([]byte(nil), stream[:n]...)); err == nil {
				d.push(pkt, now, func(au sampler.AccessUnit) {
					if au.Size() > maxFrame {
						t.Fatalf("%s unit of %d bytes over the %d limit", c, au.Size(), maxFrame)
					}
					for _, nalu := range au.NALUs {
						if len(nalu) == 0 {
							t.Fatal("empty NAL unit")
						}
					}
				})
			}
			stream = stream[n:]
			now = now.Add(time.Millisecond)
		}
	})
}

// seedPackets packetizes two small frames of codec the way a sender would.
func seedPackets(codec byte) []byte {
	var payloader rtp.Payloader
	frame := make([]byte, 3000)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	switch codec {
	case 0:
		payloader = &codecs.H264Payloader{}
		frame = append([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65}, frame...)
	case 1:
		payloader = &codecs.VP8Payloader{}
	case 2:
		payloader = &codecs.VP9Payloader{}
	default:
		payloader = &codecs.AV1Payloader{}
		frame = append([]byte{0x0a, 0x0b, 0, 0, 0, 0x24, 0xcf, 0x7f, 0x0d, 0xbf, 0xff, 0x30, 0x08, 0x32, 0x10}, frame[:100]...)
	}
	var out []byte
	seq := uint16(1)
	for ts := uint32(0); ts < 6000; ts += 3000 {
		payloads := payloader.Payload(1200, frame)
		for i, p := range payloads {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: i == len(payloads)-1}, Payload: p}
			raw, _ := pkt.Marshal()
			out = binary.BigEndian.AppendUint16(out, uint16(len(raw)))
			out = append(out, raw...)
			seq++
		}
	}
	return out
}

// FuzzNegotiate takes offers that pass checkOffer through pion the way the
// WHIP handler does (apply the offer, make an answer, check it), without
// gathering: it must never panic.
func FuzzNegotiate(f *testing.F) {
	f.Add(offerSeed)
	f.Add(strings.Replace(offerSeed, "a=sendonly", "a=sendrecv", 1))
	f.Add(strings.Replace(offerSeed, "VP8/90000", "VP8/0", 1))
	eng, err := NewEngine(ICEConfig{IPs: []string{"127.0.0.1"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = eng.Close() })
	f.Fuzz(func(t *testing.T, offer string) {
		if checkOffer([]byte(offer)) != nil {
			return
		}
		pc, err := eng.api.NewPeerConnection(pion.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
			return
		}
		if answer, err := pc.CreateAnswer(nil); err == nil {
			_ = answerReceivesVideo(answer.SDP)
		}
	})
}
