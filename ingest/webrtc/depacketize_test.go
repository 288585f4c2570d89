package webrtc

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/internal/testenv"
	"github.com/vigilstream/vigil/sampler"
)

// packetize turns frames into RTP packets of at most 1200 bytes, starting
// at sequence number seq, 3000 ticks (30 fps) apart.
func packetize(frames []testenv.Frame, p rtp.Payloader, seq uint16) []*rtp.Packet {
	var out []*rtp.Packet
	for i, f := range frames {
		payloads := p.Payload(1200, f.Data)
		for j, pl := range payloads {
			out = append(out, &rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i * 3000), Marker: j == len(payloads)-1},
				Payload: pl,
			})
			seq++
		}
	}
	return out
}

// feed pushes packets 1 ms apart and returns the units and gaps.
func feed(d *depacketizer, pkts []*rtp.Packet) (units []sampler.AccessUnit, gaps int) {
	now := time.Unix(1000, 0)
	for _, p := range pkts {
		if d.push(p, now, func(au sampler.AccessUnit) { units = append(units, au) }) {
			gaps++
		}
		now = now.Add(time.Millisecond)
	}
	return units, gaps
}

func TestDepacketizer(t *testing.T) {
	frames := clip(t, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: time.Second, GOP: 15})
	keys := 0
	for _, f := range frames {
		if f.Key {
			keys++
		}
	}

	t.Run("in order across the sequence number wrap", func(t *testing.T) {
		units, gaps := feed(newDepacketizer(sampler.VP8, 1<<20), packetize(frames, &codecs.VP8Payloader{}, 65500))
		// The last frame stays in the builder until a later one shows it
		// is complete.
		if len(units) != len(frames)-1 || gaps != 0 {
			t.Fatalf("%d units, %d gaps from %d frames", len(units), gaps, len(frames))
		}
		got := 0
		for i, u := range units {
			if u.Key {
				got++
			}
			if want := time.Duration(i) * time.Second / 30; u.PTS != want {
				t.Fatalf("unit %d PTS %s, want %s", i, u.PTS, want)
			}
		}
		if got != keys && got != keys-1 {
			t.Errorf("%d keyframes out, %d in", got, keys)
		}
	})
	t.Run("reordered", func(t *testing.T) {
		pkts := packetize(frames, &codecs.VP8Payloader{}, 7)
		for i := 1; i+1 < len(pkts); i += 3 {
			pkts[i], pkts[i+1] = pkts[i+1], pkts[i]
		}
		if units, gaps := feed(newDepacketizer(sampler.VP8, 1<<20), pkts); len(units) != len(frames)-1 || gaps != 0 {
			t.Fatalf("%d units, %d gaps from %d frames", len(units), gaps, len(frames))
		}
	})
	t.Run("lost packet", func(t *testing.T) {
		pkts := packetize(frames, &codecs.VP8Payloader{}, 7)
		lost := len(pkts) / 3
		pkts = append(pkts[:lost], pkts[lost+1:]...)
		d := newDepacketizer(sampler.VP8, 1<<20)
		// Packets 40 ms apart: the builder gives up on the lost one
		// after maxLateTime and goes on.
		var units []sampler.AccessUnit
		gaps := 0
		now := time.Unix(1000, 0)
		for _, p := range pkts {
			if d.push(p, now, func(au sampler.AccessUnit) { units = append(units, au) }) {
				gaps++
			}
			now = now.Add(40 * time.Millisecond)
		}
		if gaps == 0 {
			t.Error("no gap reported for a lost packet")
		}
		if len(units) < len(frames)-3 {
			t.Errorf("%d units from %d frames with one packet lost", len(units), len(frames))
		}
	})
	t.Run("slow and sparse", func(t *testing.T) {
		// A frame a second, its packets paced 100 ms apart: slow is not
		// lost, and nothing is given up on.
		pkts := packetize(frames, &codecs.VP8Payloader{}, 7)
		d := newDepacketizer(sampler.VP8, 1<<20)
		var units []sampler.AccessUnit
		now := time.Unix(1000, 0)
		for i, p := range pkts {
			if i > 0 && p.Timestamp != pkts[i-1].Timestamp {
				now = now.Add(time.Second)
			}
			if d.push(p, now, func(au sampler.AccessUnit) { units = append(units, au) }) {
				t.Fatalf("gap at packet %d", i)
			}
			now = now.Add(100 * time.Millisecond)
		}
		if len(units) != len(frames)-1 {
			t.Fatalf("%d units from %d frames", len(units), len(frames))
		}
	})
	t.Run("sequence restart", func(t *testing.T) {
		// A sender that restarts its sequence numbers far away loses a
		// few packets, then goes on.
		pkts := packetize(frames, &codecs.VP8Payloader{}, 7)
		half := len(pkts) / 2
		for _, p := range pkts[half:] {
			p.SequenceNumber += 30000
		}
		units, gaps := feed(newDepacketizer(sampler.VP8, 1<<20), pkts)
		if gaps != 1 || len(units) < len(frames)-1-resyncAfter-1 {
			t.Fatalf("%d units, %d gaps from %d frames", len(units), gaps, len(frames))
		}
	})
	t.Run("too large", func(t *testing.T) {
		units, _ := feed(newDepacketizer(sampler.VP8, 512), packetize(frames, &codecs.VP8Payloader{}, 7))
		for _, u := range units {
			if u.Size() > 512 {
				t.Fatalf("unit of %d bytes over the 512 limit", u.Size())
			}
		}
	})
}

// A peer sending sequence numbers at random costs no more than honest
// traffic: left alone, pion's sample builder takes seconds on a few
// hundred such packets.
func TestDepacketizerHostileSequence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []sampler.Codec{sampler.H264, sampler.VP8, sampler.VP9, sampler.AV1} {
		d := newDepacketizer(c, 1<<20)
		payload := make([]byte, 600)
		start := time.Now()
		now := time.Unix(1000, 0)
		for range 5000 {
			for i := range payload {
				payload[i] = byte(r.Uint32())
			}
			pkt := &rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: uint16(r.Uint32()), Timestamp: r.Uint32(), Marker: r.IntN(2) == 0},
				Payload: append([]byte(nil), payload...),
			}
			d.push(pkt, now, func(sampler.AccessUnit) {})
			now = now.Add(100 * time.Microsecond)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s: 5000 hostile packets took %s", c, el)
		} else {
			t.Logf("%s: 5000 hostile packets in %s", c, el.Round(time.Millisecond))
		}
	}
}
