package sampler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/asticode/go-astiav"
)

// DemuxOptions tune a Demuxer.
type DemuxOptions struct {
	// IOTimeout bounds each network read of a URL input.
	IOTimeout time.Duration
	// Protocols, when set, is FFmpeg's protocol_whitelist: the only
	// protocols the input (and, for HLS, its segments) may use.
	Protocols string
	// Lend makes Read hand out each packet's data in place, valid only
	// until the next Read (AccessUnit.Lent), instead of a copy: for a
	// caller that pushes each unit to a Sampler before reading the next.
	Lend bool
}

// Demuxer reads a file or URL (anything FFmpeg opens: MP4, MKV, IVF,
// MPEG-TS, RTMP, HLS, SRT) and yields its first video stream as access
// units for a Sampler. It is owned by one goroutine.
type Demuxer struct {
	fc     *astiav.FormatContext
	pkt    *astiav.Packet
	index  int
	tb     astiav.Rational
	params Params
	stop   func() bool
	base   time.Time
	first  int64
	lend   bool
}

// OpenDemuxer opens url. Cancelling ctx interrupts a blocked read.
func OpenDemuxer(ctx context.Context, url string, o DemuxOptions) (_ *Demuxer, err error) {
	if o.IOTimeout <= 0 {
		o.IOTimeout = 10 * time.Second
	}
	d := &Demuxer{fc: astiav.AllocFormatContext(), first: astiav.NoPtsValue, lend: o.Lend}
	if d.fc == nil {
		return nil, errors.New("sampler: allocating format context failed")
	}
	interrupt := d.fc.SetInterruptCallback()
	d.stop = context.AfterFunc(ctx, interrupt.Interrupt)
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	dict := astiav.NewDictionary()
	defer dict.Free()
	// rw_timeout is in microseconds and applies to network protocols.
	_ = dict.Set("rw_timeout", fmt.Sprint(o.IOTimeout.Microseconds()), 0)
	if o.Protocols != "" {
		_ = dict.Set("protocol_whitelist", o.Protocols, 0)
	}
	if err := d.fc.OpenInput(url, nil, dict); err != nil {
		d.fc.Free()
		d.fc = nil
		return nil, fmt.Errorf("sampler: open %s: %w", url, err)
	}
	if err := d.fc.FindStreamInfo(nil); err != nil {
		return nil, fmt.Errorf("sampler: %s: stream info: %w", url, err)
	}
	d.index = -1
	for _, st := range d.fc.Streams() {
		cp := st.CodecParameters()
		if cp.MediaType() != astiav.MediaTypeVideo {
			continue
		}
		codec, ok := codecFromID(cp.CodecID())
		if !ok {
			return nil, fmt.Errorf("%w: %s: video codec %s", ErrUnsupportedCodec, url, cp.CodecID())
		}
		d.index, d.tb = st.Index(), st.TimeBase()
		d.params = Params{Codec: codec, Extradata: cp.ExtraData()}
		if len(d.params.Extradata) == 0 {
			// Without extradata the decoder reads parameters in-band;
			// an empty slice must not switch on the extradata path.
			d.params.Extradata = nil
		}
		break
	}
	if d.index < 0 {
		return nil, fmt.Errorf("%w: %s has no video stream", ErrUnsupportedCodec, url)
	}
	d.pkt = astiav.AllocPacket()
	return d, nil
}

func codecFromID(id astiav.CodecID) (Codec, bool) {
	switch id {
	case astiav.CodecIDH264:
		return H264, true
	case astiav.CodecIDHevc:
		return HEVC, true
	case astiav.CodecIDVp8:
		return VP8, true
	case astiav.CodecIDVp9:
		return VP9, true
	case codecIDAV1:
		return AV1, true
	}
	return 0, false
}

// Params describes the video stream; access units carry packets as the
// demuxer gives them (see Params.Extradata).
func (d *Demuxer) Params() Params {
	p := d.params
	if p.Extradata == nil {
		// Raw streams (IVF, Annex-B) carry their parameters in-band.
		p.Extradata = []byte{}
	}
	return p
}

// Read fills au with the next video packet, stamped as if it arrived in
// real time from the moment of the first packet. It returns io.EOF at the
// end of the input.
func (d *Demuxer) Read(au *AccessUnit) error {
	for {
		d.pkt.Unref()
		if err := d.fc.ReadFrame(d.pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				return io.EOF
			}
			return fmt.Errorf("sampler: read: %w", err)
		}
		if d.pkt.StreamIndex() != d.index {
			continue
		}
		ts := d.pkt.Pts()
		if ts == astiav.NoPtsValue {
			ts = d.pkt.Dts()
		}
		if d.first == astiav.NoPtsValue {
			d.first = ts
			d.base = time.Unix(0, 0)
		}
		pts := time.Duration(astiav.RescaleQ(ts-d.first, d.tb, astiav.NewRational(1, 1_000_000))) * time.Microsecond
		*au = AccessUnit{
			PTS:     pts,
			Arrival: d.base.Add(pts),
			Key:     d.pkt.Flags().Has(astiav.PacketFlagKey),
			Lent:    d.lend,
		}
		if d.lend {
			data, err := packetBytes(d.pkt)
			if err != nil {
				return err
			}
			au.Frame = data
		} else {
			au.Frame = d.pkt.Data()
		}
		return nil
	}
}

// Close frees the demuxer.
func (d *Demuxer) Close() {
	if d.stop != nil {
		d.stop()
	}
	if d.pkt != nil {
		d.pkt.Free()
		d.pkt = nil
	}
	if d.fc != nil {
		d.fc.CloseInput()
		d.fc.Free()
		d.fc = nil
	}
}
