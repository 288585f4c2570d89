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

// go-astiav v0.16.0 (the release for FFmpeg 5.1) does not wrap
// avcodec_flush_buffers, which a decoder fed keyframes alone needs after each
// drain. Its CodecContext keeps the C pointer as its first field; the layout
// is checked against the codec id once per decoder, so a change of layout is
// an error, not memory corruption.
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
