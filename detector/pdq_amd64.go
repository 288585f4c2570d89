//go:build !purego

package detector

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2 versions of the widest kernels; SSE2 is the
// amd64 baseline. A variable so that the tests can run both.
var useAVX2 = cpu.X86.HasAVX2

//go:noescape
func boxBytesBulkAVX2(out *float32, add, sub *byte, n int, sum int32, div float32) int32

//go:noescape
func colBlock4AVX2(sum, a0, a1, a2, a3, b0, b1, b2, b3, out *float32, n int, div float32)

//go:noescape
func boxBytesBulkSSE2(out *float32, add, sub *byte, n int, sum int32, div float32) int32

//go:noescape
func colBlock4SSE2(sum, a0, a1, a2, a3, b0, b1, b2, b3, out *float32, n int, div float32)

// boxBytesBulk computes phase 3 of the row box over 8-bit samples: for each
// i, sum += add[i] - sub[i] and out[i] = float32(sum) / div. It returns the
// final sum. add and sub must be at least len(out) long.
func boxBytesBulk(out []float32, add, sub []byte, sum int32, div float32) int32 {
	if n := len(out) &^ 15; useAVX2 && n > 0 {
		_, _ = add[n-1], sub[n-1]
		sum = boxBytesBulkAVX2(&out[0], &add[0], &sub[0], n, sum, div)
		out, add, sub = out[n:], add[n:], sub[n:]
	}
	n := len(out) &^ 7
	if n > 0 {
		_, _ = add[n-1], sub[n-1]
		sum = boxBytesBulkSSE2(&out[0], &add[0], &sub[0], n, sum, div)
	}
	return boxBytesBulkGo(out[n:], add[n:], sub[n:], sum, div)
}

// colBlock4 runs four rows of the first column pass where each row adds a
// row of the first row pass (a0..a3) and subtracts one (b0..b3), writing
// the outputs interleaved (out[4i+k] for row k, column i).
func colBlock4(sum, a0, a1, a2, a3, b0, b1, b2, b3, out []float32, div float32) {
	if n := len(sum) &^ 7; useAVX2 && n > 0 {
		_, _, _, _ = a0[n-1], a1[n-1], a2[n-1], a3[n-1]
		_, _, _, _ = b0[n-1], b1[n-1], b2[n-1], b3[n-1]
		_ = out[4*n-1]
		colBlock4AVX2(&sum[0], &a0[0], &a1[0], &a2[0], &a3[0], &b0[0], &b1[0], &b2[0], &b3[0], &out[0], n, div)
		sum, out = sum[n:], out[4*n:]
		a0, a1, a2, a3 = a0[n:], a1[n:], a2[n:], a3[n:]
		b0, b1, b2, b3 = b0[n:], b1[n:], b2[n:], b3[n:]
	}
	n := len(sum) &^ 3
	if n > 0 {
		_, _, _, _ = a0[n-1], a1[n-1], a2[n-1], a3[n-1]
		_, _, _, _ = b0[n-1], b1[n-1], b2[n-1], b3[n-1]
		_ = out[4*n-1]
		colBlock4SSE2(&sum[0], &a0[0], &a1[0], &a2[0], &a3[0], &b0[0], &b1[0], &b2[0], &b3[0], &out[0], n, div)
	}
	if n < len(sum) {
		colBlock4Go(sum[n:], a0[n:], a1[n:], a2[n:], a3[n:], b0[n:], b1[n:], b2[n:], b3[n:], out[4*n:], div)
	}
}

//go:noescape
func rowBulk16SSE2(acc *[pdqRowBlock]float32, add, sub *float32, stride, n int)

// rowBulk16 runs the second row pass over n columns of the bulk for the
// sixteen rows of a block: add and sub start at the entering and leaving
// column of the first group; the groups are group floats apart.
func rowBulk16(acc *[pdqRowBlock]float32, add, sub []float32, group, n int) {
	if n <= 0 {
		return
	}
	// Every load stays inside the slices.
	last := 3*group + pdqLanes*n - 1
	_, _ = add[last], sub[last]
	rowBulk16SSE2(acc, &add[0], &sub[0], 4*group, n)
}

//go:noescape
func axpy4SSE2(t, a0, a1, a2, a3 *float32, c *[4]float32, n int)

// axpy4 does t[j] = (((t[j] + c0*a0[j]) + c1*a1[j]) + c2*a2[j]) + c3*a3[j]
// for every j, rounding each product and sum to float32.
func axpy4(t, a0, a1, a2, a3 []float32, c *[4]float32) {
	n := len(t) &^ 3
	if n > 0 {
		_, _, _, _ = a0[n-1], a1[n-1], a2[n-1], a3[n-1]
		axpy4SSE2(&t[0], &a0[0], &a1[0], &a2[0], &a3[0], c, n)
	}
	if n < len(t) {
		axpy4Go(t[n:], a0[n:], a1[n:], a2[n:], a3[n:], c)
	}
}

//go:noescape
func gradSumSSE2(a, b *float32, n int) int64

// gradSum is the sum over j of |int32(((a[j] - b[j]) * 100) / 255)|.
func gradSum(a, b []float32) int {
	n := len(a) &^ 3
	sum := 0
	if n > 0 {
		_ = b[n-1]
		sum = int(gradSumSSE2(&a[0], &b[0], n))
	}
	return sum + gradSumGo(a[n:], b[n:])
}
