package detector

// The tent filter and decimation of PDQ: two X,Y passes of the reference's
// box filter (downscaling.cpp: jaroszFilterFloat, box1DFloat), then the
// 64x64 samples at pixel centres (decimateFloat).
//
// The reference keeps two float32 copies of the image and runs four full
// passes over them. Here:
//
//   - the first row pass (R1) is computed row by row into a ring of rows,
//     as the first column pass needs them;
//   - the first column pass (C1) runs down all columns at once, a block of
//     pdqRowBlock output rows at a time, and writes each block interleaved:
//     groups of pdqLanes rows, column by column (see c1At);
//   - the second row pass (R2) runs the block's rows side by side, four to
//     a vector, and keeps its output only at the 64 sampled columns;
//   - the second column pass (C2) runs down those 64 columns and keeps the
//     64 sampled rows.
//
// Every running sum still visits every pixel with the reference's float32
// operations in the reference's order within its line (lines are
// independent of each other), so the sampled values are the reference's
// bit for bit; the tests compare them with a plain transcription. The hot
// loops have SSE2 versions (pdq_amd64.s) that run four or more lines per
// instruction.

// boxWindow is one 1-D box filter of the reference over a line of n
// samples: output o is the mean of the samples from o-(full-half) to
// o+half-1, clipped to the line. The reference keeps a running float32 sum:
// it first adds samples 0..half-2 (phase 1), then for each output adds the
// sample entering the window (phases 2 and 3) and subtracts the one leaving
// it (phases 3 and 4), in that order, and divides the sum by the number of
// samples in the window as a float32.
type boxWindow struct {
	n, full, half int
	p2, p3        int // first output of phase 3 and of phase 4
}

func newBoxWindow(n, full int) boxWindow {
	half := (full + 2) / 2
	return boxWindow{n: n, full: full, half: half, p2: full - half + 1, p3: n - half + 1}
}

// jaroszWindow is the reference's per-pass window along a dimension of
// size n when shrinking it to 64: half of n/64, rounded up.
func jaroszWindow(n int) int { return (n + 2*pdqGridSide - 1) / (2 * pdqGridSide) }

// count is the number of samples in output o's window, as a float32
// divisor.
func (b *boxWindow) count(o int) float32 {
	switch {
	case o < b.p2:
		return float32(o + b.half)
	case o < b.p3:
		return float32(b.full)
	default:
		return float32(b.n - o + b.full - b.half)
	}
}

// downsample runs the tent filter over the current source and fills h.grid.
func (h *PDQHasher) downsample(w, ht int) {
	h.setup(w, ht)
	cb := &h.colBox
	// A block reads rows o0-p2 to o0+pdqRowBlock-1+half-1 of the first row
	// pass: full+pdqRowBlock rows.
	ringRows := cb.full + pdqRowBlock
	ring := h.ring[:ringRows*w]
	rowOf := func(y int) []float32 { return ring[(y%ringRows)*w : (y%ringRows+1)*w] }
	next := 0 // next row of the first row pass to compute
	pullTo := func(y int) {
		// Float sources run four rows at once, see boxRowFloat4.
		for ; h.src != srcPlane && next+3 <= y; next += 4 {
			h.firstPass4(next, rowOf(next), rowOf(next+1), rowOf(next+2), rowOf(next+3))
		}
		for ; next <= y; next++ {
			h.firstPass(next, rowOf(next))
		}
	}
	colSum := h.colSum[:w]
	clear(colSum)
	group := pdqLanes * w // floats per group of interleaved rows
	c1 := h.c1[:pdqRowBlock*w]

	// Phase 1 of the column pass: accumulate rows 0..half-2.
	pullTo(cb.half - 2)
	for y := range cb.half - 1 {
		addRow(colSum, rowOf(y))
	}
	for o0 := 0; o0 < ht; o0 += pdqRowBlock {
		nb := min(pdqRowBlock, ht-o0)
		pullTo(min(o0+nb-1+cb.half-1, ht-1))
		for g := 0; g < nb; g += pdqLanes {
			out := c1[(g/pdqLanes)*group : (g/pdqLanes+1)*group]
			o := o0 + g
			if g+pdqLanes <= nb && o >= cb.p2 && o+pdqLanes <= cb.p3 {
				// The bulk: each row adds one row, subtracts one and
				// divides by the full window.
				a, b := o+cb.half-1, o-cb.p2
				colBlock4(colSum, rowOf(a), rowOf(a+1), rowOf(a+2), rowOf(a+3),
					rowOf(b), rowOf(b+1), rowOf(b+2), rowOf(b+3), out, float32(cb.full))
				continue
			}
			for k := range min(pdqLanes, nb-g) {
				var add, sub []float32
				if ri := o + k + cb.half - 1; ri < ht {
					add = rowOf(ri)
				}
				if li := o + k - cb.p2; li >= 0 {
					sub = rowOf(li)
				}
				colStep(colSum, add, sub, out, k, cb.count(o+k))
			}
		}
		h.secondRowPass(o0, nb)
	}
	h.secondColPass()
}

// setup sizes the buffers and the filter geometry for a w x ht frame.
func (h *PDQHasher) setup(w, ht int) {
	h.width, h.height = w, ht
	h.rowBox = newBoxWindow(w, jaroszWindow(w))
	h.colBox = newBoxWindow(ht, jaroszWindow(ht))
	for i := range pdqGridSide {
		// Target centres, not corners, computed in float64 as the reference.
		h.cols[i] = int((float64(i) + 0.5) * float64(w) / pdqGridSide)
		h.rows[i] = int((float64(i) + 0.5) * float64(ht) / pdqGridSide)
	}
	h.ring = grow(h.ring, (h.colBox.full+pdqRowBlock)*w)
	h.colSum = grow(h.colSum, w)
	h.c1 = grow(h.c1, pdqRowBlock*w)
	h.r2 = grow(h.r2, ht*pdqGridSide)
	if h.src != srcPlane {
		h.rowBuf = grow(h.rowBuf, 4*w)
	}
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// firstPass computes row y of the first row pass into dst.
func (h *PDQHasher) firstPass(y int, dst []float32) {
	switch h.src {
	case srcPlane:
		p := &h.plane
		boxRowBytes(dst, p.Pix[y*p.Stride:y*p.Stride+p.Width], &h.rowBox)
	case srcRGB:
		h.rgb.luma(y, h.rowBuf[:h.width])
		boxRowFloat(dst, h.rowBuf, &h.rowBox)
	case srcImage:
		h.img.luma(y, h.rowBuf[:h.width])
		boxRowFloat(dst, h.rowBuf, &h.rowBox)
	}
}

// firstPass4 computes rows y..y+3 of the first row pass from a float
// source.
func (h *PDQHasher) firstPass4(y int, d0, d1, d2, d3 []float32) {
	w := h.width
	var src [4][]float32
	for k := range src {
		src[k] = h.rowBuf[k*w : (k+1)*w]
		if h.src == srcRGB {
			h.rgb.luma(y+k, src[k])
		} else {
			h.img.luma(y+k, src[k])
		}
	}
	boxRowFloat4(d0, d1, d2, d3, src[0], src[1], src[2], src[3], &h.rowBox)
}

// boxRowBytes is the reference's box filter over a row of 8-bit luma. The
// reference sums the samples as float32, but they are integers and a window
// of them stays far below 2^24, so every float32 partial sum is exact and an
// integer sum gives the same values.
func boxRowBytes(dst []float32, src []byte, b *boxWindow) {
	n, half, p2, p3 := b.n, b.half, b.p2, b.p3
	dst, src = dst[:n], src[:n]
	var sum int32
	for i := range half - 1 {
		sum += int32(src[i])
	}
	o := 0
	for ; o < p2; o++ {
		sum += int32(src[o+half-1])
		dst[o] = float32(sum) / b.count(o)
	}
	add := src[p2+half-1 : p3+half-1]
	sum = boxBytesBulk(dst[p2:p2+len(add)], add, src[:len(add)], sum, float32(b.full))
	for o = p3; o < n; o++ {
		sum -= int32(src[o-p2])
		dst[o] = float32(sum) / b.count(o)
	}
}

// boxBytesBulkGo is boxBytesBulk in Go.
//
// Here and in colBlock4Go the division is done as float32(float64(x) *
// (1/div)), which is cheaper than a float32 divide and gives the same
// float32: for a normal float32 x and an integer div < 2^26, the float64
// product is within 2^-52 relative of the exact quotient, while the exact
// quotient is at least 2^-25/div relative away from any float32 rounding
// boundary. TestPDQDivisionByReciprocal and TestPDQKernels check it.
func boxBytesBulkGo(out []float32, add, sub []byte, sum int32, div float32) int32 {
	r := 1 / float64(div)
	add, sub = add[:len(out)], sub[:len(out)]
	for i := range out {
		sum += int32(add[i]) - int32(sub[i])
		out[i] = float32(float64(sum) * r)
	}
	return sum
}

// boxRowFloat is the reference's box filter over a row of float32 luma,
// with its float32 running sum.
func boxRowFloat(dst, src []float32, b *boxWindow) {
	n, half, p2, p3 := b.n, b.half, b.p2, b.p3
	dst, src = dst[:n], src[:n]
	var sum float32
	for i := range half - 1 {
		sum += src[i]
	}
	o := 0
	for ; o < p2; o++ {
		sum += src[o+half-1]
		dst[o] = sum / b.count(o)
	}
	div := float32(b.full)
	add := src[p2+half-1 : p3+half-1]
	sub := src[:len(add)]
	out := dst[p2 : p2+len(add)]
	for i := range out {
		sum += add[i]
		sum -= sub[i]
		out[i] = sum / div
	}
	for o = p3; o < n; o++ {
		sum -= src[o-p2]
		dst[o] = sum / b.count(o)
	}
}

// boxRowFloat4 is boxRowFloat over four rows at once: each row's running
// sum is a serial chain of float additions, and four independent chains
// keep the FPU busy where one leaves it waiting.
func boxRowFloat4(d0, d1, d2, d3, s0, s1, s2, s3 []float32, b *boxWindow) {
	n, half, p2, p3 := b.n, b.half, b.p2, b.p3
	d0, d1, d2, d3 = d0[:n], d1[:n], d2[:n], d3[:n]
	s0, s1, s2, s3 = s0[:n], s1[:n], s2[:n], s3[:n]
	var a0, a1, a2, a3 float32
	for i := range half - 1 {
		a0 += s0[i]
		a1 += s1[i]
		a2 += s2[i]
		a3 += s3[i]
	}
	o := 0
	for ; o < p2; o++ {
		j := o + half - 1
		a0 += s0[j]
		a1 += s1[j]
		a2 += s2[j]
		a3 += s3[j]
		div := b.count(o)
		d0[o], d1[o], d2[o], d3[o] = a0/div, a1/div, a2/div, a3/div
	}
	r := 1 / float64(b.full) // see boxBytesBulkGo on this division
	for ; o < p3; o++ {
		j, k := o+half-1, o-p2
		a0 += s0[j]
		a1 += s1[j]
		a2 += s2[j]
		a3 += s3[j]
		a0 -= s0[k]
		a1 -= s1[k]
		a2 -= s2[k]
		a3 -= s3[k]
		d0[o], d1[o], d2[o], d3[o] = float32(float64(a0)*r), float32(float64(a1)*r), float32(float64(a2)*r), float32(float64(a3)*r)
	}
	for ; o < n; o++ {
		k := o - p2
		a0 -= s0[k]
		a1 -= s1[k]
		a2 -= s2[k]
		a3 -= s3[k]
		div := b.count(o)
		d0[o], d1[o], d2[o], d3[o] = a0/div, a1/div, a2/div, a3/div
	}
}

func addRow(sum, add []float32) {
	add = add[:len(sum)]
	for i := range sum {
		sum[i] += add[i]
	}
}

// colBlock4Go is colBlock4 in Go (see boxBytesBulkGo on the division).
func colBlock4Go(sum, a0, a1, a2, a3, b0, b1, b2, b3, out []float32, div float32) {
	n := len(sum)
	r := 1 / float64(div)
	a0, a1, a2, a3 = a0[:n], a1[:n], a2[:n], a3[:n]
	b0, b1, b2, b3 = b0[:n], b1[:n], b2[:n], b3[:n]
	out = out[:4*n]
	for i := range sum {
		o := out[4*i : 4*i+4 : 4*i+4]
		s := sum[i] + a0[i]
		s -= b0[i]
		o[0] = float32(float64(s) * r)
		s += a1[i]
		s -= b1[i]
		o[1] = float32(float64(s) * r)
		s += a2[i]
		s -= b2[i]
		o[2] = float32(float64(s) * r)
		s += a3[i]
		s -= b3[i]
		o[3] = float32(float64(s) * r)
		sum[i] = s
	}
}

// colStep runs one row of the first column pass near the top or bottom
// edge: add is nil when no row enters the window, sub when none leaves it.
// The output goes to lane k of an interleaved group.
func colStep(sum, add, sub, out []float32, k int, div float32) {
	n := len(sum)
	out = out[:pdqLanes*n]
	if add != nil {
		add = add[:n]
		for i := range sum {
			sum[i] += add[i]
		}
	}
	if sub != nil {
		sub = sub[:n]
		for i := range sum {
			sum[i] -= sub[i]
		}
	}
	for i, s := range sum {
		out[pdqLanes*i+k] = s / div
	}
}

// secondRowPass runs the second row pass over the nb rows of the block in
// h.c1 (frame rows first..first+nb-1) and keeps its output at the sampled
// columns only. The block's rows run side by side in acc; rows past nb hold
// stale values whose results are not kept.
func (h *PDQHasher) secondRowPass(first, nb int) {
	b := &h.rowBox
	n, half, p2, p3 := b.n, b.half, b.p2, b.p3
	group := pdqLanes * n
	v := h.c1[:pdqRowBlock*n]
	cols := &h.cols
	var acc [pdqRowBlock]float32
	// step adds the column entering the window (add >= 0) and subtracts the
	// one leaving it (sub >= 0) in every row, in that order.
	step := func(add, sub int) {
		for k := range acc {
			base := (k/pdqLanes)*group + k%pdqLanes
			if add >= 0 {
				acc[k] += v[base+pdqLanes*add]
			}
			if sub >= 0 {
				acc[k] -= v[base+pdqLanes*sub]
			}
		}
	}
	kc := 0 // next sampled column
	emit := func(o int) {
		for ; kc < pdqGridSide && cols[kc] == o; kc++ {
			div := b.count(o)
			for k := range nb {
				h.r2[(first+k)*pdqGridSide+kc] = acc[k] / div
			}
		}
	}
	for i := range half - 1 {
		step(i, -1)
	}
	o := 0
	for ; o < p2; o++ {
		step(o+half-1, -1)
		emit(o)
	}
	// The bulk, from one sampled column to the next. Every sampled column
	// below p2 has been emitted, so cols[kc] >= o here.
	for o < p3 {
		stop := p3
		if kc < pdqGridSide && cols[kc] < stop {
			stop = cols[kc]
		}
		if stop > o {
			rowBulk16(&acc, v[pdqLanes*(o+half-1):], v[pdqLanes*(o-p2):], group, stop-o)
			o = stop
		}
		if o == p3 {
			break
		}
		step(o+half-1, o-p2)
		emit(o)
		o++
	}
	for ; o < n; o++ {
		step(-1, o-p2)
		emit(o)
	}
}

// rowBulk16Go is rowBulk16 in Go. It runs the four rows of a group
// together so that their chains of additions overlap.
func rowBulk16Go(acc *[pdqRowBlock]float32, add, sub []float32, group, n int) {
	const _ = -uint(pdqLanes ^ 4) // the loop below is written for four lanes
	for g := range pdqRowBlock / pdqLanes {
		a := add[g*group : g*group+pdqLanes*n]
		s := sub[g*group : g*group+pdqLanes*n]
		a0, a1, a2, a3 := acc[4*g], acc[4*g+1], acc[4*g+2], acc[4*g+3]
		for i := 0; i+3 < len(a); i += 4 {
			va := a[i : i+4 : i+4]
			vs := s[i : i+4 : i+4]
			a0 += va[0]
			a1 += va[1]
			a2 += va[2]
			a3 += va[3]
			a0 -= vs[0]
			a1 -= vs[1]
			a2 -= vs[2]
			a3 -= vs[3]
		}
		acc[4*g], acc[4*g+1], acc[4*g+2], acc[4*g+3] = a0, a1, a2, a3
	}
}

// secondColPass runs the second column pass down the 64 sampled columns
// kept by the second row pass and stores the sampled rows in h.grid.
func (h *PDQHasher) secondColPass() {
	cb := &h.colBox
	n := h.height
	r2 := h.r2[:n*pdqGridSide]
	var sum [pdqGridSide]float32
	row := func(y int) []float32 { return r2[y*pdqGridSide : (y+1)*pdqGridSide] }
	for y := range cb.half - 1 {
		for i, v := range row(y) {
			sum[i] += v
		}
	}
	k := 0
	for o := range n {
		if ri := o + cb.half - 1; ri < n {
			for i, v := range row(ri) {
				sum[i] += v
			}
		}
		if li := o - cb.p2; li >= 0 {
			for i, v := range row(li) {
				sum[i] -= v
			}
		}
		for ; k < pdqGridSide && h.rows[k] == o; k++ {
			div := cb.count(o)
			g := h.grid[k*pdqGridSide : (k+1)*pdqGridSide]
			for i, v := range sum {
				g[i] = v / div
			}
		}
	}
}
