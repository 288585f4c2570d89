package detector

// dihedralDCT stores in b the 16x16 DCT block of the picture transformed by
// d, derived from the block a of the original picture; d must not be
// DihedralOriginal. This is how the reference gets the eight dihedral
// hashes from one DCT.
//
// Why it works: coefficient (i, j) of the block is the DCT-II frequency
// (u, v) = (i+1, j+1). Reversing the rows of a picture multiplies
// coefficient u by (-1)^u, so rows with even i (odd u) change sign;
// reversing the columns does the same along j; a transpose swaps i and j.
// Each rotation or mirror is a combination of these:
//
//	rotate90   transpose, then columns reversed: B[j][i] = (-1)^(j+1) A[i][j]
//	rotate180  rows and columns reversed:        B[i][j] = (-1)^(i+j) A[i][j]
//	rotate270  transpose, then rows reversed:    B[j][i] = (-1)^(i+1) A[i][j]
//	flipx      rows reversed:                    B[i][j] = (-1)^(i+1) A[i][j]
//	flipy      columns reversed:                 B[i][j] = (-1)^(j+1) A[i][j]
//	flipplus1  transpose:                        B[j][i] = A[i][j]
//	flipminus1 transpose, both reversed:         B[j][i] = (-1)^(i+j) A[i][j]
func dihedralDCT(d Dihedral, a, b *[pdqDCTSide * pdqDCTSide]float32) {
	const n = pdqDCTSide
	for i := range n {
		for j := range n {
			v := a[i*n+j]
			oddI, oddJ := i&1 == 1, j&1 == 1
			switch d {
			case DihedralRotate90:
				if !oddJ {
					v = -v
				}
				b[j*n+i] = v
			case DihedralRotate180:
				if oddI != oddJ {
					v = -v
				}
				b[i*n+j] = v
			case DihedralRotate270:
				if !oddI {
					v = -v
				}
				b[j*n+i] = v
			case DihedralFlipX:
				if !oddI {
					v = -v
				}
				b[i*n+j] = v
			case DihedralFlipY:
				if !oddJ {
					v = -v
				}
				b[i*n+j] = v
			case DihedralFlipPlus1:
				b[j*n+i] = v
			case DihedralFlipMinus1:
				if oddI != oddJ {
					v = -v
				}
				b[j*n+i] = v
			default:
				b[i*n+j] = v
			}
		}
	}
}
