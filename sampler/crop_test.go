package sampler

import (
	"image"
	"image/color"
	"testing"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/internal/testenv"
)

// lumaOf converts an image to a BT.601 luma plane.
func lumaOf(img image.Image) detector.Plane {
	b := img.Bounds()
	p := detector.Plane{Pix: make([]byte, b.Dx()*b.Dy()), Width: b.Dx(), Height: b.Dy(), Stride: b.Dx()}
	for y := range b.Dy() {
		for x := range b.Dx() {
			p.Pix[y*p.Stride+x] = color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
		}
	}
	return p
}

// framed puts p inside borders of the given luma level.
func framed(p detector.Plane, top, bottom, left, right int, level byte) detector.Plane {
	w, h := p.Width+left+right, p.Height+top+bottom
	out := detector.Plane{Pix: make([]byte, w*h), Width: w, Height: h, Stride: w}
	for i := range out.Pix {
		out.Pix[i] = level
	}
	for y := range p.Height {
		copy(out.Pix[(y+top)*w+left:], p.Pix[y*p.Stride:y*p.Stride+p.Width])
	}
	return out
}

func TestDetectBorders(t *testing.T) {
	content := lumaOf(testenv.KnownImage(5, 320, 180))
	tests := []struct {
		name  string
		plane detector.Plane
		want  rect
	}{
		{"no border", content, rect{0, 0, 320, 180}},
		{"letterbox black", framed(content, 30, 30, 0, 0, 16), rect{0, 30, 320, 180}},
		{"pillarbox grey", framed(content, 0, 0, 40, 40, 128), rect{40, 0, 320, 180}},
		{"frame of white", framed(content, 20, 24, 16, 12, 235), rect{16, 20, 320, 180}},
		{"thin border ignored", framed(content, 2, 2, 0, 0, 16), rect{0, 0, 320, 184}},
		{"flat picture", framed(detector.Plane{Pix: make([]byte, 100*100), Width: 100, Height: 100, Stride: 100}, 10, 10, 10, 10, 0), rect{0, 0, 120, 120}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := detectBorders(tt.plane)
			// The content's own edge rows may be near the border level:
			// allow a line or two.
			if !near(got, tt.want) {
				t.Fatalf("content %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A crop changes only when two samples in a row agree on the new one.
func TestCropperIsStable(t *testing.T) {
	content := lumaOf(testenv.KnownImage(6, 320, 180))
	boxed := framed(content, 30, 30, 0, 0, 16)
	var c cropper
	first := c.content(boxed)
	if first.Height != 180 {
		t.Fatalf("first sample cropped to %d rows, want 180", first.Height)
	}
	// A dark scene: the picture's top rows go black for one sample.
	dark := framed(content, 30, 30, 0, 0, 16)
	for y := 30; y < 60; y++ {
		for x := range 320 {
			dark.Pix[y*dark.Stride+x] = 16
		}
	}
	if got := c.content(dark); got.Height != 180 {
		t.Fatalf("one dark sample moved the crop to %d rows", got.Height)
	}
	if got := c.content(boxed); got.Height != 180 {
		t.Fatalf("crop %d rows after the scene recovered", got.Height)
	}
	// The restreamer really changes its layout: two samples agree.
	wide := framed(content, 0, 0, 40, 40, 16)
	c.content(wide)
	if got := c.content(wide); got.Width != 320 || got.Height != 180 {
		t.Fatalf("crop %dx%d after two pillarboxed samples, want 320x180", got.Width, got.Height)
	}
}

// What the crop is for: a letterboxed copy of known material hashes like the
// original once the bars are gone.
func TestCropRestoresHash(t *testing.T) {
	orig := lumaOf(testenv.KnownImage(8, 640, 360))
	boxed := framed(orig, 60, 60, 0, 0, 16)
	h := detector.NewPDQHasher()
	want, _, _ := h.HashPlane(orig)
	full, _, _ := h.HashPlane(boxed)
	var c cropper
	cropped, _, _ := h.HashPlane(c.content(boxed))
	dFull, _ := want.Distance(full)
	dCrop, _ := want.Distance(cropped)
	t.Logf("distance to the original: %d bits with bars, %d cropped", dFull, dCrop)
	if dCrop > 10 || dFull <= dCrop {
		t.Fatalf("cropped distance %d (with bars %d)", dCrop, dFull)
	}
}
