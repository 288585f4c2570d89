package detector

import "fmt"

// Plane is an 8-bit luminance image in Go memory: row y starts at
// Pix[y*Stride] and holds Width samples.
type Plane struct {
	Pix    []byte
	Width  int
	Height int
	Stride int
}

// Validate reports whether the plane's dimensions fit its buffer.
func (p Plane) Validate() error {
	if p.Width <= 0 || p.Height <= 0 {
		return fmt.Errorf("%w: %dx%d", ErrImageTooSmall, p.Width, p.Height)
	}
	if p.Stride < p.Width || len(p.Pix) < (p.Height-1)*p.Stride+p.Width {
		return fmt.Errorf("detector: plane %dx%d stride %d does not fit %d bytes", p.Width, p.Height, p.Stride, len(p.Pix))
	}
	return nil
}

// Sub returns the part of p inside the rectangle at (x, y) of size w x h,
// sharing p's pixels. The rectangle must lie inside p.
func (p Plane) Sub(x, y, w, h int) Plane {
	off := y*p.Stride + x
	return Plane{Pix: p.Pix[off:], Width: w, Height: h, Stride: p.Stride}
}
