package sampler

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// inputPadding is FFmpeg's AV_INPUT_BUFFER_PADDING_SIZE: decoders may read
// this many bytes past the end of a packet, so they must exist and be zero.
const inputPadding = 64

// DecoderOptions tune a Decoder.
type DecoderOptions struct {
	// KeyframesOnly makes FFmpeg skip every non-key picture
	// (skip_frame=nokey) and return each keyframe at once (low_delay).
	KeyframesOnly bool
	// MaxPixels refuses pictures of more pixels than this (0: no limit).
	MaxPixels int
}

// Decoder decodes one video stream with FFmpeg. It allocates its packet and
// frame once and reuses them; it is owned by one goroutine.
type Decoder struct {
	params Params
	cc     *astiav.CodecContext
	pkt    *astiav.Packet
	frame  *astiav.Frame
	buf    []byte
	// drain makes every packet a complete decode: FFmpeg's H.264 decoder
	// otherwise holds a keyframe back until its reorder buffer fills, which
	// with keyframes only means seconds.
	drain bool
}

func ffmpegCodecID(c Codec) (astiav.CodecID, error) {
	switch c {
	case H264:
		return astiav.CodecIDH264, nil
	default:
		return 0, fmt.Errorf("%w: %s", ErrUnsupportedCodec, c)
	}
}

// NewDecoder opens an FFmpeg decoder for p.
func NewDecoder(p Params, o DecoderOptions) (*Decoder, error) {
	id, err := ffmpegCodecID(p.Codec)
	if err != nil {
		return nil, err
	}
	codec := astiav.FindDecoder(id)
	if codec == nil {
		return nil, fmt.Errorf("%w: no FFmpeg decoder for %s", ErrUnsupportedCodec, p.Codec)
	}
	d := &Decoder{params: p, drain: o.KeyframesOnly}
	d.cc = astiav.AllocCodecContext(codec)
	if d.cc == nil {
		return nil, errors.New("sampler: allocating codec context failed")
	}
	dict := astiav.NewDictionary()
	defer dict.Free()
	// Streams are the parallelism: one decoder thread each.
	opts := [][2]string{{"threads", "1"}}
	if o.KeyframesOnly {
		opts = append(opts, [2]string{"skip_frame", "nokey"}, [2]string{"flags", "+low_delay"})
	}
	if o.MaxPixels > 0 {
		opts = append(opts, [2]string{"max_pixels", strconv.Itoa(o.MaxPixels)})
	}
	for _, kv := range opts {
		if err := dict.Set(kv[0], kv[1], 0); err != nil {
			d.Close()
			return nil, fmt.Errorf("sampler: decoder option %s=%s: %w", kv[0], kv[1], err)
		}
	}
	if err := d.cc.Open(codec, dict); err != nil {
		d.Close()
		return nil, fmt.Errorf("sampler: open %s decoder: %w", p.Codec, err)
	}
	if err := checkCodecContextLayout(d.cc); err != nil {
		d.Close()
		return nil, err
	}
	d.pkt = astiav.AllocPacket()
	d.frame = astiav.AllocFrame()
	return d, nil
}

// Close frees the decoder's FFmpeg objects.
func (d *Decoder) Close() {
	if d.frame != nil {
		d.frame.Free()
		d.frame = nil
	}
	if d.pkt != nil {
		d.pkt.Free()
		d.pkt = nil
	}
	if d.cc != nil {
		d.cc.Free()
		d.cc = nil
	}
}

// Decode sends one access unit to FFmpeg and calls fn for every picture it
// returns. The frame is valid only during fn; the decoder reuses it.
func (d *Decoder) Decode(au *AccessUnit, fn func(*astiav.Frame) error) error {
	data, err := d.packetData(au)
	if err != nil {
		return err
	}
	if len(data) == inputPadding {
		return nil
	}
	d.pkt.Unref()
	// FromData takes the padded buffer; the packet's size then excludes
	// the zeroed padding FFmpeg may read past the end.
	if err := d.pkt.FromData(data); err != nil {
		return fmt.Errorf("sampler: packet: %w", err)
	}
	d.pkt.SetSize(len(data) - inputPadding)
	pts := au.PTS.Microseconds()
	d.pkt.SetPts(pts)
	d.pkt.SetDts(pts)
	if au.Key {
		d.pkt.SetFlags(d.pkt.Flags().Add(astiav.PacketFlagKey))
	}
	err = d.cc.SendPacket(d.pkt)
	d.pkt.Unref()
	if err != nil && !errors.Is(err, astiav.ErrEagain) {
		if d.drain {
			flushCodecContext(d.cc)
		}
		return fmt.Errorf("sampler: decode %s: %w", d.params.Codec, err)
	}
	if !d.drain {
		return d.receive(fn)
	}
	// Drain, then reset the decoder so it takes the next keyframe afresh.
	defer flushCodecContext(d.cc)
	if err := d.cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("sampler: drain %s: %w", d.params.Codec, err)
	}
	return d.receive(fn)
}

func (d *Decoder) receive(fn func(*astiav.Frame) error) error {
	for {
		err := d.cc.ReceiveFrame(d.frame)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sampler: decode %s: %w", d.params.Codec, err)
		}
		err = fn(d.frame)
		d.frame.Unref()
		if err != nil {
			return err
		}
	}
}

// Observe takes note of in-band parameter sets in an access unit the caller
// does not decode, so a later keyframe decodes with the current ones.
func (d *Decoder) Observe(au *AccessUnit) {
	if d.params.Codec != H264 {
		return
	}
	for _, n := range au.NALUs {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case h264NALUSPS:
			d.params.SPS = append(d.params.SPS[:0], n...)
		case h264NALUPPS:
			d.params.PPS = append(d.params.PPS[:0], n...)
		}
	}
}

// packetData lays out an access unit the way FFmpeg's parser-less decoders
// want it, followed by zeroed padding. H.264 keyframes carry the parameter
// sets in front, so a decoder fed only keyframes can always start.
func (d *Decoder) packetData(au *AccessUnit) ([]byte, error) {
	d.Observe(au)
	b := d.buf[:0]
	switch d.params.Codec {
	case H264:
		if au.Key {
			if len(d.params.SPS) == 0 || len(d.params.PPS) == 0 {
				return nil, ErrNoParameterSets
			}
			b = appendAnnexB(b, d.params.SPS)
			b = appendAnnexB(b, d.params.PPS)
		}
		for _, n := range au.NALUs {
			if len(n) == 0 {
				continue
			}
			if t := n[0] & 0x1f; au.Key && (t == h264NALUSPS || t == h264NALUPPS) {
				continue
			}
			b = appendAnnexB(b, n)
		}
	default:
		b = append(b, au.Frame...)
	}
	b = append(b, make([]byte, inputPadding)...)
	d.buf = b
	return b, nil
}

func appendAnnexB(b, nalu []byte) []byte {
	return append(append(b, 0, 0, 0, 1), nalu...)
}
