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
	x := Code{0x0123456789abcdef, 0xfedcba9876543210, 0xdeadbeefcafebabe, 0x0f0f0f0ff0f0f0f0}
	y := Code{0xf8f8f0cee0f4a84f, 0x06370a22038f63f0, 0xb36e2ed596621e1d, 0x33e6b39c4e9c9b22}
	var sink int
	b.ReportAllocs()
	for b.Loop() {
		sink += x.Distance(y)
		y[0]++
	}
	_ = sink
}
