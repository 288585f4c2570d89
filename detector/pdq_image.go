package detector

import (
	"errors"
	"fmt"
	"image"
	"image/color"
)

// HashImage returns the PDQ hash and quality of img. Colour pixels become
// float32 luma Y = 0.299R + 0.587G + 0.114B as in the reference; grey
// images are used as they are, as the reference uses a one-channel image.
// Alpha is ignored (the colour channels are taken unpremultiplied), as the
// reference tools do, and so is any EXIF orientation: the reference hashes
// the stored pixels.
//
// A JPEG decoded by image/jpeg arrives as *image.YCbCr with subsampled
// chroma; it is converted to RGB the way libjpeg does by default (its
// "fancy" triangle upsampling of 4:2:0 and 4:2:2 chroma and its fixed-point
// YCbCr to RGB tables), since the reference hashes were made from libjpeg
// output and Go's own nearest-neighbour conversion costs bits against them.
//
// Images under 5x5 pixels get the reference's all-zero hash of quality 0
// together with an error wrapping ErrImageTooSmall.
func (h *PDQHasher) HashImage(img image.Image) (Hash, int, error) {
	if err := h.downsampleImage(img); err != nil {
		return Hash{Algorithm: PDQ}, 0, err
	}
	hash, q := h.hashGrid()
	return hash, q, nil
}

// HashImageDihedral returns the PDQ hashes of the eight dihedral transforms
// of img, indexed by Dihedral, and their common quality, derived from one
// DCT.
func (h *PDQHasher) HashImageDihedral(img image.Image) ([8]Hash, int, error) {
	if err := h.downsampleImage(img); err != nil {
		return zeroDihedral(), 0, err
	}
	return h.hashGridDihedral()
}

// DownsampleImage stores img's 64x64 PDQ grid in dst: the same luma, blur
// and decimation HashImage starts with.
func (h *PDQHasher) DownsampleImage(img image.Image, dst *PDQGrid) error {
	if err := h.downsampleImage(img); err != nil {
		return err
	}
	*dst = h.grid
	return nil
}

var errNilImage = errors.New("pdq: nil image")

func (h *PDQHasher) downsampleImage(img image.Image) error {
	if img == nil {
		return errNilImage
	}
	b := img.Bounds()
	w, ht := b.Dx(), b.Dy()
	if w <= 0 || ht <= 0 {
		return fmt.Errorf("pdq: %w: %dx%d", ErrImageTooSmall, w, ht)
	}
	if err := checkPDQSize(w, ht); err != nil {
		return err
	}
	if g, ok := img.(*image.Gray); ok {
		return h.downsamplePlane(Plane{Pix: g.Pix[g.PixOffset(b.Min.X, b.Min.Y):], Width: w, Height: ht, Stride: g.Stride})
	}
	h.src = srcImage
	h.img.reset(img)
	h.downsample(w, ht)
	h.img.release()
	return nil
}

// lumaLUT holds the three products weight*v for v = 0..255 as float32, the
// same values the reference computes per pixel; a pixel's luma is then
// (R + G) + B in float32, in the reference's order.
var lumaLUT = func() (t [3][256]float32) {
	for v := range 256 {
		t[0][v] = lumaFromR * float32(v)
		t[1][v] = lumaFromG * float32(v)
		t[2][v] = lumaFromB * float32(v)
	}
	return t
}()

func luma(r, g, b uint8) float32 {
	return lumaLUT[0][r] + lumaLUT[1][g] + lumaLUT[2][b]
}

// rgbRows reads rows of packed RGB24.
type rgbRows struct {
	pix    []byte
	stride int
}

func (s *rgbRows) luma(y int, dst []float32) {
	row := s.pix[y*s.stride : y*s.stride+3*len(dst)]
	for x := range dst {
		p := row[3*x : 3*x+3 : 3*x+3]
		dst[x] = luma(p[0], p[1], p[2])
	}
}

// imageRows reads rows of luma from an image.Image, with fast paths for
// the types the standard decoders return.
type imageRows struct {
	img  image.Image
	ycc  *image.YCbCr
	fast bool // ycc has 4:2:0 or 4:2:2 chroma aligned at an even origin

	cb, cr []uint8 // chroma upsampled to the row's width
	sum    []int32 // vertically filtered chroma (4:2:0)
	pal    [256][3]uint8
}

func (s *imageRows) reset(img image.Image) {
	s.img = img
	s.ycc = nil
	switch m := img.(type) {
	case *image.YCbCr:
		s.setYCbCr(m)
	case *image.NYCbCrA:
		s.setYCbCr(&m.YCbCr)
	case *image.Paletted:
		// Indices past the palette read as black rather than fail.
		s.pal = [256][3]uint8{}
		for i, c := range m.Palette {
			if i == len(s.pal) {
				break
			}
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			s.pal[i] = [3]uint8{n.R, n.G, n.B}
		}
	}
}

func (s *imageRows) setYCbCr(m *image.YCbCr) {
	s.ycc = m
	w := m.Rect.Dx()
	sr := m.SubsampleRatio
	s.fast = (sr == image.YCbCrSubsampleRatio420 || sr == image.YCbCrSubsampleRatio422) &&
		m.Rect.Min.X%2 == 0 && (sr != image.YCbCrSubsampleRatio420 || m.Rect.Min.Y%2 == 0)
	if cap(s.cb) < w+1 {
		s.cb = make([]uint8, w+1)
		s.cr = make([]uint8, w+1)
	}
	s.cb, s.cr = s.cb[:w+1], s.cr[:w+1]
	if cw := (w + 1) / 2; cap(s.sum) < 2*cw {
		s.sum = make([]int32, 2*cw)
	}
}

// release drops the reference to the image so the hasher does not keep a
// frame alive.
func (s *imageRows) release() {
	s.img, s.ycc = nil, nil
}

func (s *imageRows) luma(y int, dst []float32) {
	if s.ycc != nil {
		s.lumaYCbCr(y, dst)
		return
	}
	b := s.img.Bounds()
	y += b.Min.Y
	switch m := s.img.(type) {
	case *image.NRGBA:
		row := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := range dst {
			p := row[4*x : 4*x+3 : 4*x+3]
			dst[x] = luma(p[0], p[1], p[2])
		}
	case *image.RGBA:
		row := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := range dst {
			p := row[4*x : 4*x+4 : 4*x+4]
			r, g, bl := unpremultiply(p[0], p[1], p[2], p[3])
			dst[x] = luma(r, g, bl)
		}
	case *image.Paletted:
		row := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := range dst {
			c := &s.pal[row[x]]
			dst[x] = luma(c[0], c[1], c[2])
		}
	case *image.CMYK:
		row := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := range dst {
			p := row[4*x : 4*x+4 : 4*x+4]
			r, g, bl := color.CMYKToRGB(p[0], p[1], p[2], p[3])
			dst[x] = luma(r, g, bl)
		}
	default:
		for x := range dst {
			c := color.NRGBAModel.Convert(s.img.At(b.Min.X+x, y)).(color.NRGBA)
			dst[x] = luma(c.R, c.G, c.B)
		}
	}
}

// unpremultiply turns a premultiplied 8-bit RGBA pixel into its colour as
// color.NRGBAModel does.
func unpremultiply(r, g, b, a uint8) (uint8, uint8, uint8) {
	switch a {
	case 0xff:
		return r, g, b
	case 0:
		return 0, 0, 0
	}
	a16 := uint32(a) * 0x101
	f := func(v uint8) uint8 { return uint8((uint32(v) * 0x101 * 0xffff / a16) >> 8) }
	return f(r), f(g), f(b)
}

// The fixed-point YCbCr to RGB conversion of libjpeg (jdcolor.c): 16
// fractional bits, the red and blue chroma terms rounded separately and the
// green term rounded as a whole.
const (
	yccScaleBits = 16
	yccHalf      = 1 << (yccScaleBits - 1)
)

func yccFix(x float64) int32 { return int32(x*(1<<yccScaleBits) + 0.5) }

var yccTables = func() (t struct{ crR, cbB, crG, cbG [256]int32 }) {
	for i := range 256 {
		x := int32(i - 128)
		t.crR[i] = (yccFix(1.40200)*x + yccHalf) >> yccScaleBits
		t.cbB[i] = (yccFix(1.77200)*x + yccHalf) >> yccScaleBits
		t.crG[i] = -yccFix(0.71414) * x
		t.cbG[i] = -yccFix(0.34414)*x + yccHalf
	}
	return t
}()

func clamp8(v int32) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

func (s *imageRows) lumaYCbCr(y int, dst []float32) {
	m := s.ycc
	x0, y0 := m.Rect.Min.X, m.Rect.Min.Y+y
	w := len(dst)
	yrow := m.Y[m.YOffset(x0, y0):]
	yrow = yrow[:w]
	cb, cr := s.cb[:w+1], s.cr[:w+1]
	if s.fast {
		s.upsample(y, cb, cr)
	} else {
		for x := range w {
			i := m.COffset(x0+x, y0)
			cb[x], cr[x] = m.Cb[i], m.Cr[i]
		}
	}
	t := &yccTables
	for x, yv := range yrow {
		Y := int32(yv)
		r := clamp8(Y + t.crR[cr[x]])
		g := clamp8(Y + (t.cbG[cb[x]]+t.crG[cr[x]])>>yccScaleBits)
		b := clamp8(Y + t.cbB[cb[x]])
		dst[x] = luma(r, g, b)
	}
}

// upsample fills cb and cr for image row y with libjpeg's fancy upsampling
// (jdsample.c): a triangle filter, 3/4 of the nearer chroma sample and 1/4
// of the farther one in each subsampled direction, with its rounding
// biases, and the edge samples repeated.
func (s *imageRows) upsample(y int, cb, cr []uint8) {
	m := s.ycc
	// The origin is even (see setYCbCr), so output columns 2i and 2i+1 sit
	// on chroma column i of the plane rows.
	cw := (m.Rect.Max.X+1)/2 - m.Rect.Min.X/2
	abs := m.Rect.Min.Y + y
	if m.SubsampleRatio == image.YCbCrSubsampleRatio422 {
		row := y * m.CStride
		upsampleH2V1(cb, m.Cb[row:row+cw])
		upsampleH2V1(cr, m.Cr[row:row+cw])
		return
	}
	ch := (m.Rect.Max.Y+1)/2 - m.Rect.Min.Y/2
	c := abs/2 - m.Rect.Min.Y/2
	f := c + 1 // odd rows lean on the chroma row below,
	if abs%2 == 0 {
		f = c - 1 // even rows on the one above
	}
	f = max(0, min(f, ch-1))
	near, far := c*m.CStride, f*m.CStride
	sum := s.sum[:cw]
	upsampleH2V2(cb, m.Cb[near:near+cw], m.Cb[far:far+cw], sum)
	upsampleH2V2(cr, m.Cr[near:near+cw], m.Cr[far:far+cw], sum)
}

// upsampleH2V1 doubles a chroma row horizontally (libjpeg
// h2v1_fancy_upsample). dst holds 2*len(in) samples or one less.
func upsampleH2V1(dst, in []uint8) {
	n := len(in)
	if n == 1 {
		for i := range dst {
			dst[i] = in[0]
		}
		return
	}
	out := dst[:2*n]
	out[0] = in[0]
	out[1] = uint8((3*int32(in[0]) + int32(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := 3 * int32(in[i])
		out[2*i] = uint8((v + int32(in[i-1]) + 1) >> 2)
		out[2*i+1] = uint8((v + int32(in[i+1]) + 2) >> 2)
	}
	v := int32(in[n-1])
	out[2*n-2] = uint8((3*v + int32(in[n-2]) + 1) >> 2)
	out[2*n-1] = uint8(v)
}

// upsampleH2V2 doubles a chroma row both ways (libjpeg
// h2v2_fancy_upsample): near is the chroma row nearer to the output row,
// far the one on its other side.
func upsampleH2V2(dst, near, far []uint8, sum []int32) {
	n := len(near)
	far, sum = far[:n], sum[:n]
	for i := range sum {
		sum[i] = 3*int32(near[i]) + int32(far[i])
	}
	out := dst[:2*n]
	if n == 1 {
		out[0] = uint8((sum[0]*4 + 8) >> 4)
		out[1] = uint8((sum[0]*4 + 7) >> 4)
		return
	}
	out[0] = uint8((sum[0]*4 + 8) >> 4)
	out[1] = uint8((sum[0]*3 + sum[1] + 7) >> 4)
	for i := 1; i < n-1; i++ {
		v := 3 * sum[i]
		out[2*i] = uint8((v + sum[i-1] + 8) >> 4)
		out[2*i+1] = uint8((v + sum[i+1] + 7) >> 4)
	}
	out[2*n-2] = uint8((sum[n-1]*3 + sum[n-2] + 8) >> 4)
	out[2*n-1] = uint8((sum[n-1]*4 + 7) >> 4)
}
