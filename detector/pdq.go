package detector

import (
	"fmt"
	"math"
)

// PDQ follows Meta's reference implementation (facebook/ThreatExchange,
// pdq/cpp/hashing/pdqhashing.cpp and pdq/cpp/downscaling/downscaling.cpp)
// operation for operation wherever the result depends on it: the float32
// luma, the two X,Y passes of Jarosz box filters with the reference's window
// sizes and running-sum order, the decimation to 64x64 at pixel centres,
// the 16x64 DCT matrix and its summation order, the quality metric and the
// median threshold. Fed the same pixels as the reference, it gives the same
// hash and quality. The tests hold the scheduled filter (pdq_filter.go) to a
// plain transcription of the reference bit for bit, and the hashes to the
// reference's published ones; what differs there comes from decoding (Go's
// JPEG IDCT is not libjpeg's).

// PDQMaxSide is the longest side, in pixels, the hasher accepts. Its
// buffers grow with the width (about 150 bytes per column) and the height
// (256 bytes per row) rather than with the area, which keeps them small for
// pictures of any usual shape but would let a 13-million-pixel-wide strip
// ask for gigabytes; 65536 is also JPEG's limit.
const PDQMaxSide = 1 << 16

const (
	// pdqMinDim is the smallest width or height the reference hashes; below
	// it the reference answers an all-zero hash of quality 0.
	pdqMinDim = 5
	// pdqGridSide is the side of the downsampled luma grid.
	pdqGridSide = 64
	// pdqDCTSide is the side of the kept block of DCT coefficients.
	pdqDCTSide = 16
	// pdqRowBlock is how many rows the second row pass runs side by side: the
	// running sums are serial chains of float additions, and running
	// independent rows together keeps the FPU busy.
	pdqRowBlock = 16
	// pdqLanes is how many rows share a column in the interleaved blocks
	// (one SSE vector of float32).
	pdqLanes = 4
)

// The luma weights of the reference (BT.601), as float32 like its
// constants, so that float32(0.299)*R+... rounds the same way.
const (
	lumaFromR = float32(0.299)
	lumaFromG = float32(0.587)
	lumaFromB = float32(0.114)
)

// pdqDCTMatrix holds rows 1..16 of the 64-point DCT-II basis, row-major
// 16x64, built exactly as the reference builds it: a float32 scale factor
// times a float64 cosine, rounded to float32. pdqDCTMatrixT is its
// transpose (64x16) so that the second product runs along contiguous rows.
var pdqDCTMatrix, pdqDCTMatrixT = newPDQDCTMatrix()

func newPDQDCTMatrix() (d [pdqDCTSide * pdqGridSide]float32, dt [pdqGridSide * pdqDCTSide]float32) {
	scale := float64(float32(math.Sqrt(2.0 / float64(pdqGridSide))))
	for i := range pdqDCTSide {
		for j := range pdqGridSide {
			v := float32(scale * math.Cos((math.Pi/2/float64(pdqGridSide))*float64(i+1)*float64(2*j+1)))
			d[i*pdqGridSide+j] = v
			dt[j*pdqDCTSide+i] = v
		}
	}
	return d, dt
}

// PDQGrid is the 64x64 luma grid PDQ takes its DCT of (row-major): the image
// blurred with the reference's tent filter and sampled at 64x64 pixel
// centres. A caller that has shrunk a frame some other way (swscale) can
// hash its own grid with HashGrid.
type PDQGrid [pdqGridSide * pdqGridSide]float32

// Dihedral names one of the eight rotations and mirrors of a picture, in the
// order of the reference's dihedral hashing and of the arrays returned by
// the Dihedral methods.
type Dihedral uint8

// The dihedral transforms, in the reference's order.
const (
	DihedralOriginal   Dihedral = iota
	DihedralRotate90            // 90 degrees counter-clockwise
	DihedralRotate180           // half turn
	DihedralRotate270           // 90 degrees clockwise
	DihedralFlipX               // upside down (rows reversed)
	DihedralFlipY               // mirrored left to right (columns reversed)
	DihedralFlipPlus1           // transposed about the main diagonal
	DihedralFlipMinus1          // transposed about the anti-diagonal
)

var dihedralNames = [...]string{"original", "rotate90", "rotate180", "rotate270", "flipx", "flipy", "flipplus1", "flipminus1"}

// String returns the transform's name as the reference tools print it.
func (d Dihedral) String() string {
	if int(d) < len(dihedralNames) {
		return dihedralNames[d]
	}
	return fmt.Sprintf("dihedral(%d)", uint8(d))
}

// PDQHasher computes PDQ hashes. It holds every scratch buffer the
// computation needs, so after the first frame of a given size a hash
// allocates nothing; a larger frame grows the buffers once. A PDQHasher is
// not safe for concurrent use: give each goroutine its own. The zero value
// is ready to use.
type PDQHasher struct {
	width, height int // the frame being hashed
	rowBox        boxWindow
	colBox        boxWindow

	src    pdqSource
	plane  Plane
	rgb    rgbRows
	img    imageRows
	rowBuf []float32 // one row of float luma for the non-plane sources

	ring   []float32 // the first row pass, colBox.full+pdqRowBlock rows in a ring
	colSum []float32 // running sums of the first column pass
	c1     []float32 // a block of first column pass rows, see downsample
	r2     []float32 // second row pass at the sampled columns, height x 64

	cols, rows [pdqGridSide]int // the sampled columns and rows

	grid PDQGrid
	t    [pdqDCTSide * pdqGridSide]float32
	dct  [pdqDCTSide * pdqDCTSide]float32
	aux  [pdqDCTSide * pdqDCTSide]float32
	sel  [pdqDCTSide * pdqDCTSide]float32
}

// NewPDQHasher returns a hasher with no buffers yet; they are sized by the
// first frame.
func NewPDQHasher() *PDQHasher { return &PDQHasher{} }

// pdqSource says where the first row pass takes its rows from.
type pdqSource uint8

const (
	srcPlane pdqSource = iota // 8-bit luma plane, integer sums
	srcRGB                    // packed RGB24 rows
	srcImage                  // an image.Image, through imageRows
)

// HashPlane returns the PDQ hash of an 8-bit luma plane and its quality
// (0..100; the reference advises not to match below 50). The plane's
// samples are used as the reference uses a grey image: directly as luma.
//
// A plane narrower or shorter than 5 pixels gets the reference's answer, an
// all-zero hash of quality 0, together with an error wrapping
// ErrImageTooSmall so that callers do not mistake it for a picture. A side
// longer than PDQMaxSide gives ErrImageTooLarge.
func (h *PDQHasher) HashPlane(p Plane) (Hash, int, error) {
	if err := h.downsamplePlane(p); err != nil {
		return Hash{Algorithm: PDQ}, 0, err
	}
	hash, q := h.hashGrid()
	return hash, q, nil
}

// HashPlaneDihedral returns the PDQ hashes of the plane's eight dihedral
// transforms, indexed by Dihedral, and their common quality. They are
// derived from one DCT, as the reference does, not by hashing eight images.
func (h *PDQHasher) HashPlaneDihedral(p Plane) ([8]Hash, int, error) {
	if err := h.downsamplePlane(p); err != nil {
		return zeroDihedral(), 0, err
	}
	return h.hashGridDihedral()
}

// HashRGB24 returns the PDQ hash and quality of a packed RGB24 picture
// (3 bytes per pixel, rows stride bytes apart), with the reference's float
// luma; it is what vPDQ hashes after swscale's conversion to RGB24.
func (h *PDQHasher) HashRGB24(pix []byte, width, height, stride int) (Hash, int, error) {
	if err := h.downsampleRGB24(pix, width, height, stride); err != nil {
		return Hash{Algorithm: PDQ}, 0, err
	}
	hash, q := h.hashGrid()
	return hash, q, nil
}

// DownsamplePlane stores the plane's 64x64 PDQ grid in dst: the same blur
// and decimation HashPlane starts with.
func (h *PDQHasher) DownsamplePlane(p Plane, dst *PDQGrid) error {
	if err := h.downsamplePlane(p); err != nil {
		return err
	}
	*dst = h.grid
	return nil
}

// HashGrid returns the PDQ hash and quality of a 64x64 luma grid, as the
// reference does for a frame that is already 64x64: no further blur.
func (h *PDQHasher) HashGrid(g *PDQGrid) (Hash, int) {
	h.grid = *g
	return h.hashGrid()
}

// HashGridDihedral is HashGrid for the eight dihedral transforms.
func (h *PDQHasher) HashGridDihedral(g *PDQGrid) ([8]Hash, int) {
	h.grid = *g
	hs, q, _ := h.hashGridDihedral()
	return hs, q
}

func zeroDihedral() (hs [8]Hash) {
	for i := range hs {
		hs[i].Algorithm = PDQ
	}
	return hs
}

func (h *PDQHasher) downsamplePlane(p Plane) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("pdq: %w", err)
	}
	// Validate computes (Height-1)*Stride, which can overflow for absurd
	// geometry; this bound cannot.
	if p.Height > 1 && p.Stride > (len(p.Pix)-p.Width)/(p.Height-1) {
		return fmt.Errorf("pdq: plane %dx%d stride %d does not fit %d bytes", p.Width, p.Height, p.Stride, len(p.Pix))
	}
	if err := checkPDQSize(p.Width, p.Height); err != nil {
		return err
	}
	h.src, h.plane = srcPlane, p
	if p.Width == pdqGridSide && p.Height == pdqGridSide {
		// Already the grid's size: the reference copies it unfiltered
		// (a box of width 1 would not change it anyway).
		for y := range pdqGridSide {
			row := p.Pix[y*p.Stride : y*p.Stride+pdqGridSide]
			g := h.grid[y*pdqGridSide : (y+1)*pdqGridSide]
			for x, v := range row {
				g[x] = float32(v)
			}
		}
		h.plane = Plane{}
		return nil
	}
	h.downsample(p.Width, p.Height)
	h.plane = Plane{}
	return nil
}

func (h *PDQHasher) downsampleRGB24(pix []byte, width, height, stride int) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("pdq: %w: %dx%d", ErrImageTooSmall, width, height)
	}
	if stride < 3*width || len(pix) < (height-1)*stride+3*width {
		return fmt.Errorf("pdq: rgb24 %dx%d stride %d does not fit %d bytes", width, height, stride, len(pix))
	}
	if err := checkPDQSize(width, height); err != nil {
		return err
	}
	h.src = srcRGB
	h.rgb = rgbRows{pix: pix, stride: stride}
	h.downsample(width, height)
	h.rgb = rgbRows{}
	return nil
}

func checkPDQSize(w, h int) error {
	if w < pdqMinDim || h < pdqMinDim {
		return fmt.Errorf("pdq: %w: %dx%d, the reference hashes nothing under %dx%d", ErrImageTooSmall, w, h, pdqMinDim, pdqMinDim)
	}
	if w > PDQMaxSide || h > PDQMaxSide {
		return fmt.Errorf("pdq: %w: %dx%d, a side over %d pixels", ErrImageTooLarge, w, h, PDQMaxSide)
	}
	return nil
}

// hashGrid finishes a hash from h.grid.
func (h *PDQHasher) hashGrid() (Hash, int) {
	q := pdqQuality(&h.grid)
	h.dct64To16()
	return Hash{Algorithm: PDQ, Code: h.bits(&h.dct)}, q
}

func (h *PDQHasher) hashGridDihedral() ([8]Hash, int, error) {
	q := pdqQuality(&h.grid)
	h.dct64To16()
	var hs [8]Hash
	for d := range hs {
		hs[d].Algorithm = PDQ
		if d == int(DihedralOriginal) {
			hs[d].Code = h.bits(&h.dct)
			continue
		}
		dihedralDCT(Dihedral(d), &h.dct, &h.aux)
		hs[d].Code = h.bits(&h.aux)
	}
	return hs, q, nil
}

// pdqQuality is the reference's image-domain quality metric: the sum of
// the absolute vertical and horizontal steps of the grid, each scaled to
// 0..100 and truncated in float32 arithmetic as the reference does, over 90
// and capped at 100.
func pdqQuality(g *PDQGrid) int {
	const n = pdqGridSide
	// Vertical steps: every pixel against the one below it.
	sum := gradSum(g[:(n-1)*n], g[n:])
	// Horizontal steps: every pixel against the next one, taken over the
	// whole grid as one line and without the pairs that straddle two rows.
	sum += gradSum(g[:n*n-1], g[1:])
	for i := n - 1; i < n*n-1; i += n {
		sum -= gradSumGo(g[i:i+1], g[i+1:i+2])
	}
	return min(sum/90, 100)
}

// gradSumGo is gradSum in Go.
func gradSumGo(a, b []float32) int {
	b = b[:len(a)]
	sum := 0
	for j := range a {
		d := int32(((a[j] - b[j]) * 100) / 255)
		if d < 0 {
			d = -d
		}
		sum += int(d)
	}
	return sum
}

// dct64To16 computes the 16x16 block of DCT coefficients 1..16 x 1..16 of
// h.grid as D * A * Dt, each product accumulated in float32 in the
// reference's order (k from 0 to 63). The loops run k outermost so that the
// inner loop is a multiply-add over independent outputs, four steps of k at
// a time (axpy4).
func (h *PDQHasher) dct64To16() {
	const n, m = pdqGridSide, pdqDCTSide
	a := &h.grid
	t := &h.t
	d := &pdqDCTMatrix
	for i := range m {
		ti := t[i*n : (i+1)*n]
		clear(ti)
		for k := 0; k < n; k += 4 {
			c := (*[4]float32)(d[i*n+k : i*n+k+4])
			axpy4(ti, a[k*n:(k+1)*n], a[(k+1)*n:(k+2)*n], a[(k+2)*n:(k+3)*n], a[(k+3)*n:(k+4)*n], c)
		}
	}
	b := &h.dct
	dt := &pdqDCTMatrixT
	for i := range m {
		bi := b[i*m : (i+1)*m]
		clear(bi)
		for k := 0; k < n; k += 4 {
			c := (*[4]float32)(t[i*n+k : i*n+k+4])
			axpy4(bi, dt[k*m:(k+1)*m], dt[(k+1)*m:(k+2)*m], dt[(k+2)*m:(k+3)*m], dt[(k+3)*m:(k+4)*m], c)
		}
	}
}

// axpy4Go is axpy4 in Go; the explicit float32 conversions forbid fused
// multiply-adds, which would round differently from the reference.
func axpy4Go(t, a0, a1, a2, a3 []float32, c *[4]float32) {
	n := len(t)
	a0, a1, a2, a3 = a0[:n], a1[:n], a2[:n], a3[:n]
	c0, c1, c2, c3 := c[0], c[1], c[2], c[3]
	for j := range t {
		s := t[j] + float32(c0*a0[j])
		s += float32(c1 * a1[j])
		s += float32(c2 * a2[j])
		s += float32(c3 * a3[j])
		t[j] = s
	}
}

// bits thresholds a 16x16 coefficient block at its median: bit i*16+j is
// set when coefficient (i, j) is greater than the median. In the
// reference's hex form bit k is bit k of the 256-bit number the 64 hex
// digits spell, so it lands in Code[3-k/64] at position k%64.
func (h *PDQHasher) bits(c *[pdqDCTSide * pdqDCTSide]float32) Code {
	med := median256(c, &h.sel)
	var code Code
	for k, v := range c {
		if v > med {
			code[3-(k>>6)] |= 1 << (k & 63)
		}
	}
	return code
}

// median256 returns the value the reference's Torben median returns for
// 256 values: the 128th smallest ((n+1)/2-th, counting from one). It
// selects in a copy with quickselect.
func median256(c *[256]float32, scratch *[256]float32) float32 {
	*scratch = *c
	a := scratch[:]
	const k = 127
	lo, hi := 0, len(a)-1
	for lo < hi {
		// Median of three as pivot keeps sorted input from degrading.
		mid := int(uint(lo+hi) >> 1)
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}
