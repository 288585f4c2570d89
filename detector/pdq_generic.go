//go:build !amd64 || purego

package detector

// boxBytesBulk computes phase 3 of the row box over 8-bit samples: for each
// i, sum += add[i] - sub[i] and out[i] = float32(sum) / div. It returns the
// final sum. add and sub must be at least len(out) long.
func boxBytesBulk(out []float32, add, sub []byte, sum int32, div float32) int32 {
	return boxBytesBulkGo(out, add, sub, sum, div)
}

// colBlock4 runs four rows of the first column pass where each row adds a
// row of the first row pass (a0..a3) and subtracts one (b0..b3), writing
// the outputs interleaved (out[4i+k] for row k, column i).
func colBlock4(sum, a0, a1, a2, a3, b0, b1, b2, b3, out []float32, div float32) {
	colBlock4Go(sum, a0, a1, a2, a3, b0, b1, b2, b3, out, div)
}

// rowBulk16 runs the second row pass over n columns of the bulk for the
// sixteen rows of a block: add and sub start at the entering and leaving
// column of the first group; the groups are group floats apart.
func rowBulk16(acc *[pdqRowBlock]float32, add, sub []float32, group, n int) {
	rowBulk16Go(acc, add, sub, group, n)
}

// axpy4 does t[j] = (((t[j] + c0*a0[j]) + c1*a1[j]) + c2*a2[j]) + c3*a3[j]
// for every j, rounding each product and sum to float32.
func axpy4(t, a0, a1, a2, a3 []float32, c *[4]float32) {
	axpy4Go(t, a0, a1, a2, a3, c)
}

// gradSum is the sum over j of |int32(((a[j] - b[j]) * 100) / 255)|.
func gradSum(a, b []float32) int {
	return gradSumGo(a, b)
}
