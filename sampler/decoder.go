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
	// KeyframesOnly starts the decoder skipping every non-key picture
	// (skip_frame=nokey) and draining after each packet.
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
	// drain makes every packet a complete decode: FFmpeg's decoders
	// otherwise hold a picture back until their reorder buffer fills, which
	// with keyframes only means seconds.
	drain     bool
	maxPixels int
}

func findDecoder(c Codec) (*astiav.Codec, error) {
	var codec *astiav.Codec
	switch c {
	case H264:
		codec = astiav.FindDecoder(astiav.CodecIDH264)
	case HEVC:
		codec = astiav.FindDecoder(astiav.CodecIDHevc)
	case VP8:
		codec = astiav.FindDecoder(astiav.CodecIDVp8)
	case VP9:
		codec = astiav.FindDecoder(astiav.CodecIDVp9)
	case AV1:
		// FFmpeg 5.1's own AV1 decoder needs a hardware accelerator.
		codec = astiav.FindDecoderByName("libdav1d")
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedCodec, c)
	}
	if codec == nil {
		return nil, fmt.Errorf("%w: no FFmpeg decoder for %s in this build", ErrUnsupportedCodec, c)
	}
	return codec, nil
}

// NewDecoder opens an FFmpeg decoder for p.
func NewDecoder(p Params, o DecoderOptions) (*Decoder, error) {
	codec, err := findDecoder(p.Codec)
	if err != nil {
		return nil, err
	}
	d := &Decoder{params: p, drain: o.KeyframesOnly, maxPixels: o.MaxPixels}
	d.cc = astiav.AllocCodecContext(codec)
	if d.cc == nil {
		return nil, errors.New("sampler: allocating codec context failed")
	}
	if len(p.Extradata) > 0 {
		if err := d.cc.SetExtraData(p.Extradata); err != nil {
			d.Close()
			return nil, fmt.Errorf("sampler: %s extradata: %w", p.Codec, err)
		}
	}
	dict := astiav.NewDictionary()
	defer dict.Free()
	// Streams are the parallelism: one decoder thread each.
	opts := [][2]string{{"threads", "1"}}
	if o.KeyframesOnly {
		opts = append(opts, [2]string{"skip_frame", "nokey"})
	}
	if o.MaxPixels > 0 {
		opts = append(opts, [2]string{"max_pixels", strconv.Itoa(o.MaxPixels)})
	}
	if p.Codec == AV1 {
		opts = append(opts, [2]string{"max_frame_delay", "1"})
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

// SetKeyframesOnly switches between decoding keyframes alone, each drained
// at once, and decoding every picture. The decoder is reset: pictures
// pending in it are dropped, and the next packet must be a keyframe.
func (d *Decoder) SetKeyframesOnly(on bool) {
	setSkipNonKey(d.cc, on)
	d.drain = on
	d.Reset()
}

// Reset drops whatever the decoder holds; decoding restarts at a keyframe.
func (d *Decoder) Reset() { flushCodecContext(d.cc) }

// Decode sends one access unit to FFmpeg and calls fn for every picture it
// returns. The frame is valid only during fn; the decoder reuses it.
func (d *Decoder) Decode(au *AccessUnit, fn func(*astiav.Frame) error) error {
	if err := d.send(au); err != nil {
		if d.drain {
			d.Reset()
		}
		return err
	}
	if !d.drain {
		return d.receive(fn)
	}
	return d.Drain(fn)
}

// checkSize reports a stream whose pictures exceed the pixel limit. FFmpeg
// refuses to allocate such pictures (max_pixels) without failing the call;
// the codec context still knows the size from the parameter sets.
func (d *Decoder) checkSize() error {
	if w, h := d.cc.Width(), d.cc.Height(); d.maxPixels > 0 && int64(w)*int64(h) > int64(d.maxPixels) {
		return fmt.Errorf("%w: %dx%d is over %d pixels", ErrPictureTooLarge, w, h, d.maxPixels)
	}
	return nil
}

// Drain returns every picture the decoder still holds, then resets it.
func (d *Decoder) Drain(fn func(*astiav.Frame) error) error {
	defer d.Reset()
	if err := d.cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("sampler: drain %s: %w", d.params.Codec, err)
	}
	return d.receive(fn)
}

// Send feeds an access unit without collecting pictures; the next Decode
// or Drain returns them. Used to catch up on a group of pictures.
func (d *Decoder) Send(au *AccessUnit) error { return d.send(au) }

func (d *Decoder) send(au *AccessUnit) error {
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
	d.pkt.SetDts(astiav.NoPtsValue)
	if au.Key {
		d.pkt.SetFlags(d.pkt.Flags().Add(astiav.PacketFlagKey))
	}
	err = d.cc.SendPacket(d.pkt)
	d.pkt.Unref()
	if err != nil && !errors.Is(err, astiav.ErrEagain) {
		return fmt.Errorf("sampler: decode %s: %w", d.params.Codec, err)
	}
	return nil
}

func (d *Decoder) receive(fn func(*astiav.Frame) error) error {
	if err := d.checkSize(); err != nil {
		return err
	}
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
	if len(d.params.Extradata) > 0 {
		return
	}
	switch d.params.Codec {
	case H264:
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
	case HEVC:
		for _, n := range au.NALUs {
			if len(n) < 2 {
				continue
			}
			switch hevcType(n) {
			case hevcNALUVPS:
				d.params.VPS = append(d.params.VPS[:0], n...)
			case hevcNALUSPS:
				d.params.SPS = append(d.params.SPS[:0], n...)
			case hevcNALUPPS:
				d.params.PPS = append(d.params.PPS[:0], n...)
			}
		}
	}
}

func isParamSet(c Codec, n []byte) bool {
	switch c {
	case H264:
		t := n[0] & 0x1f
		return t == h264NALUSPS || t == h264NALUPPS
	case HEVC:
		t := hevcType(n)
		return len(n) > 1 && (t == hevcNALUVPS || t == hevcNALUSPS || t == hevcNALUPPS)
	}
	return false
}

// packetData lays out an access unit the way FFmpeg's parser-less decoders
// want it, followed by zeroed padding. H.264 and HEVC keyframes carry the
// parameter sets in front, so a decoder fed only keyframes can always start.
func (d *Decoder) packetData(au *AccessUnit) ([]byte, error) {
	b := d.buf[:0]
	if len(d.params.Extradata) > 0 || (d.params.Codec != H264 && d.params.Codec != HEVC) {
		b = append(b, au.Frame...)
	} else {
		d.Observe(au)
		if au.Key {
			sets := [][]byte{d.params.SPS, d.params.PPS}
			if d.params.Codec == HEVC {
				sets = [][]byte{d.params.VPS, d.params.SPS, d.params.PPS}
			}
			for _, s := range sets {
				if len(s) == 0 {
					return nil, ErrNoParameterSets
				}
				b = appendAnnexB(b, s)
			}
		}
		for _, n := range au.NALUs {
			if len(n) == 0 || (au.Key && isParamSet(d.params.Codec, n)) {
				continue
			}
			b = appendAnnexB(b, n)
		}
	}
	b = append(b, make([]byte, inputPadding)...)
	d.buf = b
	return b, nil
}

func appendAnnexB(b, nalu []byte) []byte {
	return append(append(b, 0, 0, 0, 1), nalu...)
}
