package sampler

/*
#cgo pkg-config: libavutil
#include <libavutil/frame.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
	"github.com/vigilstream/vigil/detector"
)

// lumaCopier copies the luma plane of decoded pictures into Go memory,
// converting through swscale only for pixel formats whose first plane is not
// 8-bit luma.
type lumaCopier struct {
	sws    *astiav.SoftwareScaleContext
	gray   *astiav.Frame
	swsKey [3]int
}

// direct8BitLuma lists the formats whose plane 0 is 8-bit luma already.
var direct8BitLuma = map[astiav.PixelFormat]bool{
	astiav.PixelFormatYuv420P:  true,
	astiav.PixelFormatYuvj420P: true,
	astiav.PixelFormatYuv422P:  true,
	astiav.PixelFormatYuvj422P: true,
	astiav.PixelFormatYuv444P:  true,
	astiav.PixelFormatYuvj444P: true,
	astiav.PixelFormatYuv440P:  true,
	astiav.PixelFormatYuvj440P: true,
	astiav.PixelFormatYuv411P:  true,
	astiav.PixelFormatYuva420P: true,
	astiav.PixelFormatNv12:     true,
	astiav.PixelFormatNv21:     true,
	astiav.PixelFormatGray8:    true,
}

// copy writes f's luma into dst (grown as needed) and returns the plane,
// which aliases dst.
func (l *lumaCopier) copy(f *astiav.Frame, dst []byte) (detector.Plane, []byte, error) {
	w, h := f.Width(), f.Height()
	if w <= 0 || h <= 0 {
		return detector.Plane{}, dst, fmt.Errorf("sampler: picture of %dx%d", w, h)
	}
	src := f
	if !direct8BitLuma[f.PixelFormat()] {
		g, err := l.toGray(f)
		if err != nil {
			return detector.Plane{}, dst, err
		}
		src = g
	}
	cf := (*C.AVFrame)(src.UnsafePointer())
	stride := int(cf.linesize[0])
	if cf.data[0] == nil || stride < w {
		return detector.Plane{}, dst, fmt.Errorf("sampler: picture %dx%d has no usable luma plane", w, h)
	}
	rows := unsafe.Slice((*byte)(unsafe.Pointer(cf.data[0])), (h-1)*stride+w)
	n := w * h
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	for y := range h {
		copy(dst[y*w:(y+1)*w], rows[y*stride:y*stride+w])
	}
	return detector.Plane{Pix: dst, Width: w, Height: h, Stride: w}, dst, nil
}

func (l *lumaCopier) toGray(f *astiav.Frame) (*astiav.Frame, error) {
	key := [3]int{f.Width(), f.Height(), int(f.PixelFormat())}
	if l.sws == nil || key != l.swsKey {
		l.freeScaler()
		sws, err := astiav.CreateSoftwareScaleContext(f.Width(), f.Height(), f.PixelFormat(),
			f.Width(), f.Height(), astiav.PixelFormatGray8, astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagPoint))
		if err != nil {
			return nil, fmt.Errorf("sampler: luma from %s: %w", f.PixelFormat(), err)
		}
		l.sws, l.swsKey = sws, key
		l.gray = astiav.AllocFrame()
	}
	l.gray.Unref()
	if err := l.sws.ScaleFrame(f, l.gray); err != nil {
		return nil, fmt.Errorf("sampler: luma from %s: %w", f.PixelFormat(), err)
	}
	return l.gray, nil
}

func (l *lumaCopier) freeScaler() {
	if l.sws != nil {
		l.sws.Free()
		l.sws = nil
	}
	if l.gray != nil {
		l.gray.Free()
		l.gray = nil
	}
}
