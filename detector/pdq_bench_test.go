package detector

import (
	"image"
	"math/rand/v2"
	"testing"
)

// benchPlane returns a w x h luma plane of smooth gradients plus noise, so
// that the hash has something to threshold.
func benchPlane(w, h int) Plane {
	r := rand.New(rand.NewPCG(1, 2))
	p := Plane{Pix: make([]byte, w*h), Width: w, Height: h, Stride: w}
	for y := range h {
		for x := range w {
			v := (x*255/w+y*255/h)/2 + r.IntN(32) - 16
			p.Pix[y*w+x] = byte(min(255, max(0, v)))
		}
	}
	return p
}

// BenchmarkPDQPlane1080p: PDQ of a 1920x1080 8-bit luma plane, the live
// path's frame. Goal: <= 2 ms/op on one core and 0 allocs/op after the
// first frame (DESIGN.md budgets).
func BenchmarkPDQPlane1080p(b *testing.B) {
	p := benchPlane(1920, 1080)
	h := NewPDQHasher()
	if _, _, err := h.HashPlane(p); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p.Pix)))
	b.ReportAllocs()
	for b.Loop() {
		h.HashPlane(p)
	}
}

// BenchmarkPDQPlane64: PDQ of a frame already shrunk to 64x64 (no tent
// filter; DCT, quality and median only). Goal: <= 50 us/op, 0 allocs/op.
func BenchmarkPDQPlane64(b *testing.B) {
	p := benchPlane(64, 64)
	h := NewPDQHasher()
	h.HashPlane(p)
	b.SetBytes(int64(len(p.Pix)))
	b.ReportAllocs()
	for b.Loop() {
		h.HashPlane(p)
	}
}

// BenchmarkPDQPlaneDihedral1080p: the eight dihedral hashes of a 1080p
// plane. Goal: within 10 us of BenchmarkPDQPlane1080p (one DCT, eight
// thresholds), 0 allocs/op.
func BenchmarkPDQPlaneDihedral1080p(b *testing.B) {
	p := benchPlane(1920, 1080)
	h := NewPDQHasher()
	h.HashPlaneDihedral(p)
	b.ReportAllocs()
	for b.Loop() {
		h.HashPlaneDihedral(p)
	}
}

// BenchmarkPDQImageYCbCr1080p: PDQ of a decoded 4:2:0 JPEG-like image at
// 1080p through the float RGB luma path (what `vigil hash image` does).
// No hard goal; it shows the cost of conformant colour conversion over the
// plane path.
func BenchmarkPDQImageYCbCr1080p(b *testing.B) {
	p := benchPlane(1920, 1080)
	img := image.NewYCbCr(image.Rect(0, 0, 1920, 1080), image.YCbCrSubsampleRatio420)
	copy(img.Y, p.Pix)
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = byte(100+i%50), byte(140-i%40)
	}
	h := NewPDQHasher()
	h.HashImage(img)
	b.ReportAllocs()
	for b.Loop() {
		h.HashImage(img)
	}
}

// BenchmarkCodeDistance: Hamming distance of two 256-bit codes, the inner
// loop of a linear index scan. Goal: a few ns/op.
func BenchmarkCodeDistance(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	codes := make([]Code, 1024)
	for i := range codes {
		codes[i] = Code{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}
	}
	q := codes[0]
	sink, i := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		sink += q.Distance(codes[i&1023])
		i++
	}
	if sink < 0 {
		b.Fatal(sink)
	}
}

// BenchmarkPDQRGB24_720p: PDQ of a packed RGB24 frame at 1280x720 through
// the float luma path, what sampler/vpdq does per video frame. No hard
// goal; it bounds how fast `vigil hash video` can go besides decoding.
func BenchmarkPDQRGB24_720p(b *testing.B) {
	p := benchPlane(1280, 720)
	rgb := make([]byte, 3*len(p.Pix))
	for i, v := range p.Pix {
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = v, 255-v, v/2
	}
	h := NewPDQHasher()
	h.HashRGB24(rgb, 1280, 720, 3*1280)
	b.SetBytes(int64(len(rgb)))
	b.ReportAllocs()
	for b.Loop() {
		h.HashRGB24(rgb, 1280, 720, 3*1280)
	}
}
