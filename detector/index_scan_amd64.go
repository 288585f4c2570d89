package detector

import "golang.org/x/sys/cpu"

// The posting cells of PDQ tables are scanned 16 postings at a time with
// AVX-512 (VPOPCNTD, VPCOMPRESSD), or 8 at a time with AVX2, where the Go
// loop takes about 20 ns a line; with either, candidates are verified in
// assembly too, prefetching one line per candidate ahead rather than
// chunks of 16 through calls (61 -> 51 us when first measured). At 10M PDQ
// codes, r=31, loaded from a file, in-process medians: Go 96 us, AVX2 28
// us, AVX-512 16 us (bench/index/README.md). Variables so that the tests
// can run every path.
var (
	mihUseAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPOPCNTDQ && cpu.X86.HasBMI2 && cpu.X86.HasPOPCNT
	mihUseAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasBMI2 && cpu.X86.HasPOPCNT
)

// mihCompressLUT[m] lists the lanes set in the 8-bit mask m, in order: the
// permutation that packs the passing postings of 8 lanes (AVX2 has no
// compress instruction).
var mihCompressLUT = func() (lut [256][8]uint32) {
	for m := range lut {
		j := 0
		for i := range 8 {
			if m&(1<<i) != 0 {
				lut[m][j] = uint32(i)
				j++
			}
		}
	}
	return lut
}()

// mihScanCells scans the posting cells at addrs[:n] with the widest kernel
// the CPU has, as mihScanCellsAVX512 describes; ok is false when it has none.
func mihScanCells(addrs *uintptr, xs *uint32, n, dist int, f *mihFilter, out, spill, ov *uint32) (nout, nspill int, ok bool) {
	switch {
	case mihUseAVX512:
		nout, nspill = mihScanCellsAVX512(addrs, xs, n, dist, f, out, spill, ov)
	case mihUseAVX2:
		nout, nspill = mihScanCellsAVX2(addrs, xs, n, dist, f, out, spill, ov, &mihCompressLUT)
	default:
		return 0, 0, false
	}
	return nout, nspill, true
}

//go:noescape
func mihScanCellsAVX512(addrs *uintptr, xs *uint32, n, dist int, f *mihFilter, out, spill, ov *uint32) (nout, nspill int)

//go:noescape
func mihScanCellsAVX2(addrs *uintptr, xs *uint32, n, dist int, f *mihFilter, out, spill, ov *uint32, lut *[256][8]uint32) (nout, nspill int)

//go:noescape
func mihListProbesAVX512(addrs *uintptr, xs *uint32, ps *mihCellProbe, n int, qc uint32, base uintptr)

//go:noescape
func mihScanRunsAVX512(ov, runs *uint32, n int, f *mihFilter, out *uint32) (nout int)

//go:noescape
func mihVerifyPairsAVX512(codes *uint64, cands *uint32, n, dist int, q *[4]uint64, r int, hits *idxHit, entries int) (nhits int)

//go:noescape
func mihVerify4(codes *uint64, cands *uint32, n, dist int, q *[4]uint64, r int, hits *idxHit) (nhits int)
