//go:build !amd64

package detector

const (
	mihUseAVX512 = false
	mihUseAVX2   = false
)

func mihScanCells(addrs *uintptr, xs *uint32, n, dist int, f *mihFilter, out, spill, ov *uint32) (nout, nspill int, ok bool) {
	return 0, 0, false
}

func mihListProbesAVX512(addrs *uintptr, xs *uint32, ps *mihCellProbe, n int, qc uint32, base uintptr) {
	panic("unreachable")
}

func mihScanRunsAVX512(ov, runs *uint32, n int, f *mihFilter, out *uint32) (nout int) {
	panic("unreachable")
}

func mihVerifyPairsAVX512(codes *uint64, cands *uint32, n, dist int, q *[4]uint64, r int, hits *idxHit, entries int) (nhits int) {
	panic("unreachable")
}

func mihVerify4(codes *uint64, cands *uint32, n, dist int, q *[4]uint64, r int, hits *idxHit) (nhits int) {
	panic("unreachable")
}
