package sampler

/*
#cgo pkg-config: libavcodec
#include <libavcodec/avcodec.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// go-astiav v0.16.0 (the release for FFmpeg 5.1) wraps neither
// avcodec_flush_buffers, which a decoder fed keyframes alone needs after each
// drain, nor AVCodecContext.skip_frame after open. Its CodecContext keeps the
// C pointer as its first field; the layout is checked against the codec id
// once per decoder, so a change of layout is an error, not memory corruption.
func codecContextC(cc *astiav.CodecContext) *C.AVCodecContext {
	return *(**C.AVCodecContext)(unsafe.Pointer(cc))
}

func checkCodecContextLayout(cc *astiav.CodecContext) error {
	c := codecContextC(cc)
	if c == nil || astiav.CodecID(c.codec_id) != cc.CodecID() || astiav.MediaType(c.codec_type) != cc.MediaType() {
		return fmt.Errorf("sampler: go-astiav CodecContext layout is not the one this build expects")
	}
	return nil
}

func flushCodecContext(cc *astiav.CodecContext) {
	C.avcodec_flush_buffers(codecContextC(cc))
}

// setSkipNonKey switches skip_frame between nokey and default. The option
// is set through the dictionary at open; this changes it mid-stream, which
// decoders read per picture.
func setSkipNonKey(cc *astiav.CodecContext, on bool) {
	c := codecContextC(cc)
	if on {
		c.skip_frame = C.AVDISCARD_NONKEY
	} else {
		c.skip_frame = C.AVDISCARD_DEFAULT
	}
}

// codecIDAV1 is AV_CODEC_ID_AV1, which go-astiav v0.16.0 does not name.
var codecIDAV1 = astiav.CodecID(C.AV_CODEC_ID_AV1)

// packetBytes returns the packet's data in place, in C memory: valid until
// the packet is unreferenced. go-astiav's Packet.Data copies; a demuxer
// that lends each packet for one call needs no copy. The same first-field
// layout as CodecContext, checked against the packet's size.
func packetBytes(p *astiav.Packet) ([]byte, error) {
	c := *(**C.AVPacket)(unsafe.Pointer(p))
	if c == nil || int(c.size) != p.Size() {
		return nil, fmt.Errorf("sampler: go-astiav Packet layout is not the one this build expects")
	}
	if c.size == 0 || c.data == nil {
		return nil, nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(c.data)), int(c.size)), nil
}
