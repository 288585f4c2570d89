package detector

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// The tests below hold the scheduled, allocation-free hasher to a plain
// transcription of the reference algorithm (two full float32 buffers, four
// full box passes, float32 division, the DCT summed in i, j, k order, the
// median by sorting): the 64x64 grid must be identical bit for bit, and so
// must the hash and quality.

// naiveBox is the reference's 1-D box filter, written out phase by phase.
func naiveBox(in, out []float32, n, stride, full int) {
	half := (full + 2) / 2
	li, ri, oi := 0, 0, 0
	var sum float32
	cnt := 0
	for range half - 1 {
		sum += in[ri]
		cnt++
		ri += stride
	}
	for range full - half + 1 {
		sum += in[ri]
		cnt++
		out[oi] = sum / float32(cnt)
		ri += stride
		oi += stride
	}
	for range n - full {
		sum += in[ri]
		sum -= in[li]
		out[oi] = sum / float32(cnt)
		li += stride
		ri += stride
		oi += stride
	}
	for range half - 1 {
		sum -= in[li]
		cnt--
		out[oi] = sum / float32(cnt)
		li += stride
		oi += stride
	}
}

// naiveGrid blurs and decimates a w x h float luma image as the reference.
func naiveGrid(luma []float32, w, h int) PDQGrid {
	var g PDQGrid
	if w == 64 && h == 64 {
		copy(g[:], luma)
		return g
	}
	b1 := slices.Clone(luma)
	b2 := make([]float32, w*h)
	wr, wc := jaroszWindow(w), jaroszWindow(h)
	for range 2 {
		for y := range h {
			naiveBox(b1[y*w:], b2[y*w:], w, 1, wr)
		}
		for x := range w {
			naiveBox(b2[x:], b1[x:], h, w, wc)
		}
	}
	for i := range 64 {
		y := int((float64(i) + 0.5) * float64(h) / 64)
		for j := range 64 {
			x := int((float64(j) + 0.5) * float64(w) / 64)
			g[i*64+j] = b1[y*w+x]
		}
	}
	return g
}

// naiveHash finishes the reference algorithm from a grid.
func naiveHash(g *PDQGrid) (Code, int) {
	var t [16 * 64]float32
	for i := range 16 {
		for j := range 64 {
			var s float32
			for k := range 64 {
				s += float32(pdqDCTMatrix[i*64+k] * g[k*64+j])
			}
			t[i*64+j] = s
		}
	}
	var b [256]float32
	for i := range 16 {
		for j := range 16 {
			var s float32
			for k := range 64 {
				s += float32(t[i*64+k] * pdqDCTMatrix[j*64+k])
			}
			b[i*16+j] = s
		}
	}
	return naiveBits(&b), naiveQuality(g)
}

func naiveQuality(g *PDQGrid) int {
	sum := 0
	step := func(u, v float32) {
		d := int(((u - v) * 100) / 255)
		sum += max(d, -d)
	}
	for i := range 63 {
		for j := range 64 {
			step(g[i*64+j], g[(i+1)*64+j])
		}
	}
	for i := range 64 {
		for j := range 63 {
			step(g[i*64+j], g[i*64+j+1])
		}
	}
	return min(sum/90, 100)
}

func naiveBits(b *[256]float32) Code {
	sorted := slices.Clone(b[:])
	slices.Sort(sorted)
	med := sorted[127]
	var c Code
	for k, v := range b {
		if v > med {
			c[3-k/64] |= 1 << (k % 64)
		}
	}
	return c
}

func randomPlane(r *rand.Rand, w, h, stride int) Plane {
	p := Plane{Pix: make([]byte, (h-1)*stride+w), Width: w, Height: h, Stride: stride}
	// Smooth content plus noise, so that neighbouring values are related
	// as in pictures, and some pure noise rows.
	fx, fy := r.Float64()*0.2, r.Float64()*0.2
	for y := range h {
		for x := range w {
			v := 128 + 100*math.Sin(float64(x)*fx+float64(y)*fy) + float64(r.IntN(40)-20)
			p.Pix[y*stride+x] = uint8(min(255, max(0, v)))
		}
	}
	return p
}

func planeLuma(p Plane) []float32 {
	l := make([]float32, p.Width*p.Height)
	for y := range p.Height {
		for x := range p.Width {
			l[y*p.Width+x] = float32(p.Pix[y*p.Stride+x])
		}
	}
	return l
}

var pdqTestSizes = [][2]int{
	{5, 5}, {5, 400}, {400, 5}, {7, 9}, {63, 64}, {64, 64}, {65, 64}, {64, 200}, {127, 129},
	{128, 128}, {129, 257}, {300, 200}, {640, 360}, {1000, 3}, {1280, 720}, {1920, 1080}, {2001, 1501},
}

func TestPDQPlaneMatchesNaive(t *testing.T) { forEachKernelSet(t, testPDQPlaneMatchesNaive) }

func testPDQPlaneMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	h := NewPDQHasher()
	for _, sz := range pdqTestSizes {
		w, ht := sz[0], sz[1]
		if w < pdqMinDim || ht < pdqMinDim {
			continue
		}
		for _, stride := range []int{w, w + 13} {
			p := randomPlane(r, w, ht, stride)
			want := naiveGrid(planeLuma(p), w, ht)
			var got PDQGrid
			if err := h.DownsamplePlane(p, &got); err != nil {
				t.Fatalf("%dx%d: %v", w, ht, err)
			}
			if i := firstDiff(&got, &want); i >= 0 {
				t.Fatalf("%dx%d stride %d: grid[%d] = %v, reference %v", w, ht, stride, i, got[i], want[i])
			}
			wantCode, wantQ := naiveHash(&want)
			hash, q, err := h.HashPlane(p)
			if err != nil {
				t.Fatal(err)
			}
			if hash.Code != wantCode || q != wantQ {
				t.Fatalf("%dx%d: hash %s q %d, reference %s q %d", w, ht, hash, q, Hash{PDQ, wantCode}, wantQ)
			}
		}
	}
}

func firstDiff(a, b *PDQGrid) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestPDQRGBMatchesNaive covers the float luma path (RGB24 and the image
// types with fast paths) against the reference's luma and filter.
func TestPDQRGBMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	h := NewPDQHasher()
	for _, sz := range [][2]int{{5, 7}, {64, 64}, {301, 199}, {1280, 720}} {
		w, ht := sz[0], sz[1]
		nrgba := image.NewNRGBA(image.Rect(0, 0, w, ht))
		rgb := make([]byte, 3*w*ht)
		luma := make([]float32, w*ht)
		base := randomPlane(r, w, ht, w)
		for i := range w * ht {
			c := [3]uint8{base.Pix[i], uint8(255 - int(base.Pix[i])/2), uint8(r.IntN(256))}
			copy(rgb[3*i:], c[:])
			copy(nrgba.Pix[4*i:], c[:])
			nrgba.Pix[4*i+3] = uint8(r.IntN(256)) // alpha is ignored
			luma[i] = float32(lumaFromR*float32(c[0])) + float32(lumaFromG*float32(c[1])) + float32(lumaFromB*float32(c[2]))
		}
		want := naiveGrid(luma, w, ht)
		wantCode, wantQ := naiveHash(&want)
		for name, hash := range map[string]func() (Hash, int, error){
			"rgb24":  func() (Hash, int, error) { return h.HashRGB24(rgb, w, ht, 3*w) },
			"nrgba":  func() (Hash, int, error) { return h.HashImage(nrgba) },
			"custom": func() (Hash, int, error) { return h.HashImage(customImage{nrgba}) },
		} {
			got, q, err := hash()
			if err != nil {
				t.Fatalf("%s %dx%d: %v", name, w, ht, err)
			}
			if got.Code != wantCode || q != wantQ {
				t.Errorf("%s %dx%d: %s q %d, reference %s q %d", name, w, ht, got, q, Hash{PDQ, wantCode}, wantQ)
			}
		}
	}
}

// customImage hides the concrete type so that the generic path is taken.
type customImage struct{ m *image.NRGBA }

func (c customImage) ColorModel() color.Model { return c.m.ColorModel() }
func (c customImage) Bounds() image.Rectangle { return c.m.Bounds() }
func (c customImage) At(x, y int) color.Color { return c.m.At(x, y) }

// TestPDQImageTypes: the same picture in the image types with fast paths
// hashes the same as through the generic path.
func TestPDQImageTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	base := randomPlane(r, 97, 61, 97)
	gray := &image.Gray{Pix: base.Pix, Stride: base.Stride, Rect: image.Rect(0, 0, 97, 61)}
	rgba := image.NewRGBA(gray.Rect)
	pal := image.NewPaletted(gray.Rect, nil)
	for i := range 256 {
		pal.Palette = append(pal.Palette, color.Gray{uint8(i)})
	}
	cmyk := image.NewCMYK(gray.Rect)
	for i, v := range base.Pix {
		copy(rgba.Pix[4*i:], []uint8{v, v, v, 255})
		pal.Pix[i] = v
		copy(cmyk.Pix[4*i:], []uint8{0, 0, 0, 255 - v})
	}
	h := NewPDQHasher()
	want, wq, err := h.HashImage(customImage{imageToNRGBA(gray)})
	if err != nil {
		t.Fatal(err)
	}
	plane, pq, _ := h.HashPlane(base)
	// A grey image is luma as it is; through RGB, 0.299v+0.587v+0.114v
	// may round differently from v, so allow a bit or two.
	if d := plane.Code.Distance(want.Code); d > 2 || pq != wq {
		t.Errorf("gray plane %s q %d vs rgb %s q %d", plane, pq, want, wq)
	}
	for name, img := range map[string]image.Image{"rgba": rgba, "paletted": pal, "cmyk": cmyk} {
		got, q, err := h.HashImage(img)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != want || q != wq {
			t.Errorf("%s: %s q %d, generic %s q %d", name, got, q, want, wq)
		}
	}
	g, gq, _ := h.HashImage(gray)
	if g != plane || gq != pq {
		t.Errorf("*image.Gray %s, plane %s", g, plane)
	}
	// A sub-image with an odd origin hashes as the same pixels copied out.
	sub := gray.SubImage(image.Rect(3, 5, 90, 60)).(*image.Gray)
	s1, _, _ := h.HashImage(sub)
	s2, _, _ := h.HashImage(customImage{imageToNRGBA(sub)})
	if d := s1.Code.Distance(s2.Code); d > 2 {
		t.Errorf("sub-image: %s vs %s", s1, s2)
	}
}

func imageToNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			out.Set(x, y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

// TestPDQYCbCrUpsampling checks the libjpeg-style conversion against a
// direct evaluation of libjpeg's formulas, pixel by pixel.
func TestPDQYCbCrUpsampling(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio440} {
		for _, sz := range [][2]int{{6, 6}, {7, 9}, {33, 20}} {
			w, ht := sz[0], sz[1]
			m := image.NewYCbCr(image.Rect(0, 0, w, ht), ratio)
			for i := range m.Y {
				m.Y[i] = uint8(r.IntN(256))
			}
			for i := range m.Cb {
				m.Cb[i], m.Cr[i] = uint8(r.IntN(256)), uint8(r.IntN(256))
			}
			var rows imageRows
			rows.reset(m)
			got := make([]float32, w)
			for y := range ht {
				rows.luma(y, got)
				for x := range w {
					cb, cr := libjpegChroma(m, x, y)
					want := libjpegLuma(int32(m.Y[m.YOffset(x, y)]), cb, cr)
					if got[x] != want {
						t.Fatalf("%v %dx%d (%d,%d): luma %v, libjpeg %v", ratio, w, ht, x, y, got[x], want)
					}
				}
			}
		}
	}
}

// libjpegChroma evaluates libjpeg's fancy upsampling at one pixel from
// its definition: a triangle filter with weights 3/4 and 1/4 (9, 3, 3, 1
// sixteenths for 4:2:0), rounding biases alternating between 8 and 7 (2
// and 1 for 4:2:2), edges repeated.
func libjpegChroma(m *image.YCbCr, x, y int) (int32, int32) {
	at := func(p []uint8, cx, cy int) int32 {
		var cw, ch int
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio420:
			cw, ch = (m.Rect.Dx()+1)/2, (m.Rect.Dy()+1)/2
		case image.YCbCrSubsampleRatio422:
			cw, ch = (m.Rect.Dx()+1)/2, m.Rect.Dy()
		}
		cx = max(0, min(cx, cw-1))
		cy = max(0, min(cy, ch-1))
		return int32(p[cy*m.CStride+cx])
	}
	one := func(p []uint8) int32 {
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio420:
			cx, cy := x/2, y/2
			dx, dy := -1, -1
			if x%2 == 1 {
				dx = 1
			}
			if y%2 == 1 {
				dy = 1
			}
			col := func(c int) int32 { return 3*at(p, c, cy) + at(p, c, cy+dy) }
			bias := int32(8)
			if x%2 == 1 {
				bias = 7
			}
			return (3*col(cx) + col(cx+dx) + bias) >> 4
		case image.YCbCrSubsampleRatio422:
			cx := x / 2
			dx, bias := -1, int32(1)
			if x%2 == 1 {
				dx, bias = 1, 2
			}
			return (3*at(p, cx, y) + at(p, cx+dx, y) + bias) >> 2
		default:
			return int32(p[m.COffset(x, y)])
		}
	}
	return one(m.Cb), one(m.Cr)
}

// libjpegLuma converts with libjpeg's jdcolor.c formulas evaluated
// directly, then takes the reference's float luma.
func libjpegLuma(y, cb, cr int32) float32 {
	fix := func(f float64) int64 { return int64(f*65536 + 0.5) }
	r := int64(y) + (fix(1.402)*int64(cr-128)+32768)>>16
	g := int64(y) + (-fix(0.34414)*int64(cb-128)-fix(0.71414)*int64(cr-128)+32768)>>16
	b := int64(y) + (fix(1.772)*int64(cb-128)+32768)>>16
	c := func(v int64) uint8 { return uint8(max(0, min(255, v))) }
	return luma(c(r), c(g), c(b))
}

// TestPDQKernels holds the dispatched kernels (SSE2 on amd64) to their Go
// versions, bit for bit, over lengths that exercise the vector loops and
// their tails.
func TestPDQKernels(t *testing.T) { forEachKernelSet(t, testPDQKernels) }

func testPDQKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	randFloats := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = r.Float32()*300 - 20
		}
		return s
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return false
			}
		}
		return len(a) == len(b)
	}
	for n := range 100 {
		div := float32(1 + r.IntN(40))

		add, sub := make([]byte, n), make([]byte, n)
		for i := range add {
			add[i], sub[i] = uint8(r.IntN(256)), uint8(r.IntN(256))
		}
		sum0 := int32(r.IntN(10000))
		got, want := make([]float32, n), make([]float32, n)
		gs := boxBytesBulk(got, add, sub, sum0, div)
		ws := boxBytesBulkGo(want, add, sub, sum0, div)
		if gs != ws || !same(got, want) {
			t.Fatalf("boxBytesBulk n=%d: sum %d vs %d, out %v vs %v", n, gs, ws, got, want)
		}

		var rows [8][]float32
		for i := range rows {
			rows[i] = randFloats(n)
		}
		sumA := randFloats(n)
		sumB := slices.Clone(sumA)
		outA, outB := make([]float32, 4*n), make([]float32, 4*n)
		colBlock4(sumA, rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], rows[6], rows[7], outA, div)
		colBlock4Go(sumB, rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], rows[6], rows[7], outB, div)
		if !same(sumA, sumB) || !same(outA, outB) {
			t.Fatalf("colBlock4 n=%d differs from Go", n)
		}

		group := pdqLanes * (n + 3)
		v := randFloats(4*group + 8)
		var accA [pdqRowBlock]float32
		for i := range accA {
			accA[i] = r.Float32() * 1000
		}
		accB := accA
		rowBulk16(&accA, v[4:], v, group, n)
		rowBulk16Go(&accB, v[4:], v, group, n)
		if accA != accB {
			t.Fatalf("rowBulk16 n=%d: %v vs %v", n, accA, accB)
		}

		c := [4]float32{r.Float32() - 0.5, r.Float32() - 0.5, r.Float32() - 0.5, r.Float32() - 0.5}
		tA := randFloats(n)
		tB := slices.Clone(tA)
		axpy4(tA, rows[0], rows[1], rows[2], rows[3], &c)
		axpy4Go(tB, rows[0], rows[1], rows[2], rows[3], &c)
		if !same(tA, tB) {
			t.Fatalf("axpy4 n=%d differs from Go", n)
		}
		if a, b := gradSum(rows[4], rows[5]), gradSumGo(rows[4], rows[5]); a != b {
			t.Fatalf("gradSum n=%d: %d vs %d", n, a, b)
		}
	}
}

// TestPDQDivisionByReciprocal backs the claim in boxBytesBulkGo: for
// normal float32 x and window sizes n, float32(float64(x) * (1/n)) is the
// float32 quotient.
func TestPDQDivisionByReciprocal(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	for n := 1; n <= 1200; n++ {
		rcp := 1 / float64(n)
		fn := float32(n)
		for range 500 {
			var x float32
			switch r.IntN(3) {
			case 0: // a sum of 8-bit samples
				x = float32(r.IntN(255*n + 1))
			case 1: // a sum of filtered values
				x = r.Float32() * 255 * float32(n)
			default: // any normal, finite, positive float32
				x = math.Float32frombits(r.Uint32()&0x007fffff | uint32(1+r.IntN(254))<<23)
			}
			if got, want := float32(float64(x)*rcp), x/fn; got != want {
				t.Fatalf("n=%d x=%v: %v, quotient %v", n, x, got, want)
			}
		}
	}
}

func TestMedian256(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	var scratch [256]float32
	for trial := range 500 {
		var c [256]float32
		for i := range c {
			switch trial % 4 {
			case 0:
				c[i] = r.Float32()*200 - 100
			case 1:
				c[i] = float32(r.IntN(5)) // many ties
			case 2:
				c[i] = float32(i) // sorted
			default:
				c[i] = float32(255 - i) // reversed
			}
		}
		sorted := slices.Clone(c[:])
		slices.Sort(sorted)
		before := c
		if got := median256(&c, &scratch); got != sorted[127] {
			t.Fatalf("trial %d: median %v, want %v", trial, got, sorted[127])
		}
		if c != before {
			t.Fatal("median256 changed its input")
		}
	}
}

// TestPDQDihedralDCT derives each transform's coefficients from the
// original's and compares them with the DCT of the grid transformed in
// pixel space, which fixes what each Dihedral means.
func TestPDQDihedralDCT(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	var g PDQGrid
	for i := range g {
		g[i] = r.Float32() * 255
	}
	transforms := map[Dihedral]func(y, x int) (int, int){
		// Each maps a pixel (y, x) of the result to the source pixel.
		DihedralRotate90:   func(y, x int) (int, int) { return x, 63 - y }, // counter-clockwise
		DihedralRotate180:  func(y, x int) (int, int) { return 63 - y, 63 - x },
		DihedralRotate270:  func(y, x int) (int, int) { return 63 - x, y }, // clockwise
		DihedralFlipX:      func(y, x int) (int, int) { return 63 - y, x }, // upside down
		DihedralFlipY:      func(y, x int) (int, int) { return y, 63 - x }, // mirrored
		DihedralFlipPlus1:  func(y, x int) (int, int) { return x, y },
		DihedralFlipMinus1: func(y, x int) (int, int) { return 63 - x, 63 - y },
	}
	h := NewPDQHasher()
	h.grid = g
	h.dct64To16()
	orig := h.dct
	for d, src := range transforms {
		var tg PDQGrid
		for y := range 64 {
			for x := range 64 {
				sy, sx := src(y, x)
				tg[y*64+x] = g[sy*64+sx]
			}
		}
		h.grid = tg
		h.dct64To16()
		var derived [256]float32
		dihedralDCT(d, &orig, &derived)
		for k := range derived {
			if math.Abs(float64(derived[k]-h.dct[k])) > 1e-2 {
				t.Fatalf("%s: coefficient %d derived %v, transformed %v", d, k, derived[k], h.dct[k])
			}
		}
	}
}

// TestPDQDihedralPlanes: the derived hashes of a picture are close to the
// hashes of the transformed picture itself. Not always equal: with an even
// window the box filter leans half a pixel one way, and the sampled pixel
// centres are not symmetric either, so a mirrored picture is sampled a
// pixel or so off its mirror image.
func TestPDQDihedralPlanes(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	p := smoothPlane(r, 900, 600)
	h := NewPDQHasher()
	hs, q, err := h.HashPlaneDihedral(p)
	if err != nil {
		t.Fatal(err)
	}
	single, sq, _ := h.HashPlane(p)
	if hs[DihedralOriginal] != single || q != sq {
		t.Fatalf("original %s q %d, HashPlane %s q %d", hs[0], q, single, sq)
	}
	for d := DihedralRotate90; d <= DihedralFlipMinus1; d++ {
		tp := transformPlane(p, d)
		got, _, err := h.HashPlane(tp)
		if err != nil {
			t.Fatal(err)
		}
		if dist := got.Code.Distance(hs[d].Code); dist > 10 {
			t.Errorf("%s: derived %s, transformed plane %s: distance %d", d, hs[d], got, dist)
		} else {
			t.Logf("%s: distance %d", d, dist)
		}
	}
}

// smoothPlane is a picture-like plane: a few soft blobs on a gradient.
func smoothPlane(r *rand.Rand, w, h int) Plane {
	type blob struct{ x, y, s, a float64 }
	var blobs []blob
	for range 12 {
		blobs = append(blobs, blob{r.Float64() * float64(w), r.Float64() * float64(h), 20 + r.Float64()*float64(w)/6, r.Float64()*160 - 80})
	}
	p := Plane{Pix: make([]byte, w*h), Width: w, Height: h, Stride: w}
	for y := range h {
		for x := range w {
			v := 60 + 100*float64(x)/float64(w)
			for _, b := range blobs {
				dx, dy := float64(x)-b.x, float64(y)-b.y
				v += b.a * math.Exp(-(dx*dx+dy*dy)/(2*b.s*b.s))
			}
			p.Pix[y*w+x] = uint8(min(255, max(0, v)))
		}
	}
	return p
}

func transformPlane(p Plane, d Dihedral) Plane {
	w, h := p.Width, p.Height
	tw, th := w, h
	if d == DihedralRotate90 || d == DihedralRotate270 || d == DihedralFlipPlus1 || d == DihedralFlipMinus1 {
		tw, th = h, w
	}
	out := Plane{Pix: make([]byte, tw*th), Width: tw, Height: th, Stride: tw}
	for y := range th {
		for x := range tw {
			var sy, sx int
			switch d {
			case DihedralRotate90:
				sy, sx = x, w-1-y
			case DihedralRotate180:
				sy, sx = h-1-y, w-1-x
			case DihedralRotate270:
				sy, sx = h-1-x, y
			case DihedralFlipX:
				sy, sx = h-1-y, x
			case DihedralFlipY:
				sy, sx = y, w-1-x
			case DihedralFlipPlus1:
				sy, sx = x, y
			case DihedralFlipMinus1:
				sy, sx = h-1-x, w-1-y
			}
			out.Pix[y*tw+x] = p.Pix[sy*p.Stride+sx]
		}
	}
	return out
}

func TestPDQHashBitOrder(t *testing.T) {
	// Only coefficient (0, 0) above a median of zero: bit 0, the last hex
	// digit in the reference's form.
	var c [256]float32
	c[0] = 1
	h := NewPDQHasher()
	if got := (Hash{PDQ, h.bits(&c)}).String(); got != "0000000000000000000000000000000000000000000000000000000000000001" {
		t.Fatalf("bit 0 -> %s", got)
	}
	c[0], c[255] = 0, 1
	if got := (Hash{PDQ, h.bits(&c)}).String(); got != "8000000000000000000000000000000000000000000000000000000000000000" {
		t.Fatalf("bit 255 -> %s", got)
	}
	c[255], c[16] = 0, 1 // (1, 0): word 1 of the reference, bit 0
	if got := (Hash{PDQ, h.bits(&c)}).String(); got != "0000000000000000000000000000000000000000000000000000000000010000" {
		t.Fatalf("bit 16 -> %s", got)
	}
}

func TestPDQSmallAndBadPlanes(t *testing.T) {
	h := NewPDQHasher()
	zero := Hash{Algorithm: PDQ}
	for _, sz := range [][2]int{{1, 1}, {4, 100}, {100, 4}, {4, 4}} {
		p := Plane{Pix: make([]byte, sz[0]*sz[1]), Width: sz[0], Height: sz[1], Stride: sz[0]}
		hash, q, err := h.HashPlane(p)
		if !errors.Is(err, ErrImageTooSmall) {
			t.Errorf("%dx%d: err = %v, want ErrImageTooSmall", sz[0], sz[1], err)
		}
		if hash != zero || q != 0 {
			t.Errorf("%dx%d: %s q %d, want the reference's zero hash, quality 0", sz[0], sz[1], hash, q)
		}
		hs, q, err := h.HashPlaneDihedral(p)
		if !errors.Is(err, ErrImageTooSmall) || hs[3] != zero || q != 0 {
			t.Errorf("%dx%d dihedral: %v %d %v", sz[0], sz[1], hs[3], q, err)
		}
	}
	for _, p := range []Plane{
		{},
		{Pix: make([]byte, 10), Width: 5, Height: 5, Stride: 5},
		{Pix: make([]byte, 100), Width: 10, Height: 10, Stride: 5},
		{Pix: make([]byte, 100), Width: 10, Height: 10, Stride: math.MaxInt / 4},
		{Pix: make([]byte, 100), Width: 10, Height: math.MaxInt / 4, Stride: 10},
	} {
		if _, _, err := h.HashPlane(p); err == nil {
			t.Errorf("plane %dx%d stride %d over %d bytes: no error", p.Width, p.Height, p.Stride, len(p.Pix))
		}
	}
	long := Plane{Pix: make([]byte, 5*(PDQMaxSide+1)), Width: PDQMaxSide + 1, Height: 5, Stride: PDQMaxSide + 1}
	if _, _, err := h.HashPlane(long); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("%dx5 plane: %v, want ErrImageTooLarge", long.Width, err)
	}
	tall := Plane{Pix: make([]byte, 5*(PDQMaxSide+1)), Width: 5, Height: PDQMaxSide + 1, Stride: 5}
	if _, _, err := h.HashPlane(tall); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("5x%d plane: %v, want ErrImageTooLarge", tall.Height, err)
	}
	if _, _, err := h.HashRGB24(make([]byte, 20), 5, 5, 15); err == nil {
		t.Error("short rgb24 buffer: no error")
	}
	if _, _, err := h.HashImage(nil); err == nil {
		t.Error("nil image: no error")
	}
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	if hash, q, err := h.HashImage(img); !errors.Is(err, ErrImageTooSmall) || hash != zero || q != 0 {
		t.Errorf("1x1 image: %s %d %v", hash, q, err)
	}
}

// TestPDQFlatAndHasherReuse: a flat image has quality 0; one hasher used
// for frames of changing sizes gives the same answers as fresh hashers.
func TestPDQFlatAndHasherReuse(t *testing.T) {
	flat := Plane{Pix: make([]byte, 200*100), Width: 200, Height: 100, Stride: 200}
	for i := range flat.Pix {
		flat.Pix[i] = 77
	}
	h := NewPDQHasher()
	if _, q, err := h.HashPlane(flat); err != nil || q != 0 {
		t.Errorf("flat plane: quality %d, %v", q, err)
	}
	r := rand.New(rand.NewPCG(23, 24))
	var planes []Plane
	for _, sz := range [][2]int{{640, 480}, {64, 64}, {1280, 720}, {33, 17}, {640, 480}} {
		planes = append(planes, randomPlane(r, sz[0], sz[1], sz[0]))
	}
	for i, p := range planes {
		got, q, _ := h.HashPlane(p)
		want, wq, _ := NewPDQHasher().HashPlane(p)
		if got != want || q != wq {
			t.Errorf("frame %d %dx%d: reused hasher %s, fresh %s", i, p.Width, p.Height, got, want)
		}
	}
}

func TestPDQZeroAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	p := randomPlane(r, 1280, 720, 1280)
	h := NewPDQHasher()
	h.HashPlane(p)
	if n := testing.AllocsPerRun(5, func() { h.HashPlane(p) }); n != 0 {
		t.Errorf("HashPlane allocates %v times per frame", n)
	}
	if n := testing.AllocsPerRun(5, func() { h.HashPlaneDihedral(p) }); n != 0 {
		t.Errorf("HashPlaneDihedral allocates %v times per frame", n)
	}
	img := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	h.HashImage(img)
	if n := testing.AllocsPerRun(5, func() { h.HashImage(img) }); n != 0 {
		t.Errorf("HashImage(*image.YCbCr) allocates %v times per frame", n)
	}
}

func TestDihedralString(t *testing.T) {
	for d, want := range map[Dihedral]string{DihedralOriginal: "original", DihedralFlipMinus1: "flipminus1", 9: "dihedral(9)"} {
		if got := fmt.Sprint(d); got != want {
			t.Errorf("%d: %q, want %q", d, got, want)
		}
	}
}

// FuzzPDQPlane hashes planes of arbitrary geometry and content: nothing
// may panic, a plane that does not fit its buffer must be refused, and what
// is hashed must match the plain transcription of the reference.
func FuzzPDQPlane(f *testing.F) {
	f.Add([]byte("a small picture of bytes, repeated"), uint16(5), uint16(5), uint16(6))
	f.Add(make([]byte, 64*64), uint16(64), uint16(64), uint16(64))
	f.Add(make([]byte, 300), uint16(150), uint16(2), uint16(150))
	h := NewPDQHasher()
	f.Fuzz(func(t *testing.T, seed []byte, w, ht, stride uint16) {
		// Small inputs keep each run and the fuzzer's minimisation quick.
		if len(seed) == 0 || len(seed) > 1<<10 {
			return
		}
		w, ht = w%300, ht%300
		// Grow the seed to fill the plane, so that most inputs are valid.
		n := int(ht)*int(stride) + int(w)
		if n > 1<<20 {
			return
		}
		pix := make([]byte, n)
		for i := range pix {
			pix[i] = seed[i%len(seed)] + byte(i/len(seed))
		}
		p := Plane{Pix: pix, Width: int(w), Height: int(ht), Stride: int(stride)}
		hash, q, err := h.HashPlane(p)
		valid := p.Validate() == nil
		if !valid {
			if err == nil {
				t.Fatalf("invalid plane %dx%d stride %d over %d bytes hashed", w, ht, stride, len(pix))
			}
			return
		}
		if w < pdqMinDim || ht < pdqMinDim {
			if !errors.Is(err, ErrImageTooSmall) || hash.Code != (Code{}) || q != 0 {
				t.Fatalf("%dx%d: %s %d %v", w, ht, hash, q, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		g := naiveGrid(planeLuma(p), int(w), int(ht))
		code, wq := naiveHash(&g)
		if hash.Code != code || q != wq {
			t.Fatalf("%dx%d stride %d: %s q %d, reference %s q %d", w, ht, stride, hash, q, Hash{PDQ, code}, wq)
		}
	})
}

// TestPDQMemoryBounded: the hasher's buffers for the most lopsided planes
// it accepts stay in the tens of megabytes (the reference would take two
// float copies of the image, 8 bytes a pixel).
func TestPDQMemoryBounded(t *testing.T) {
	for _, sz := range [][2]int{{PDQMaxSide, 5}, {5, PDQMaxSide}, {PDQMaxSide, 1024}} {
		p := Plane{Pix: make([]byte, sz[0]*sz[1]), Width: sz[0], Height: sz[1], Stride: sz[0]}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, _, err := NewPDQHasher().HashPlane(p); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		got := after.TotalAlloc - before.TotalAlloc
		t.Logf("%dx%d: %d KiB allocated", sz[0], sz[1], got>>10)
		if got > 32<<20 {
			t.Errorf("%dx%d: %d MiB allocated", sz[0], sz[1], got>>20)
		}
	}
}
