package detector

import (
	"math/bits"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestIndexMIHScanKernels runs the PDQ checks of TestIndexMIHMatchesLinear
// and TestIndexMIHSpills through every scan of posting cells this CPU can
// run: Go always, AVX2 and AVX-512 where present. Not parallel: it switches
// the scan for the package.
func TestIndexMIHScanKernels(t *testing.T) {
	saved512, saved2 := mihUseAVX512, mihUseAVX2
	defer func() { mihUseAVX512, mihUseAVX2 = saved512, saved2 }()
	for _, k := range []struct {
		name         string
		avx512, avx2 bool
	}{{"go", false, false}, {"avx2", false, true}, {"avx512", true, false}} {
		if (k.avx2 && !saved2) || (k.avx512 && !saved512) {
			continue
		}
		mihUseAVX512, mihUseAVX2 = k.avx512, k.avx2
		t.Run(k.name, func(t *testing.T) {
			for _, clustered := range []bool{false, true} {
				for _, m := range []int{8, 11, 16} {
					rng := rand.New(rand.NewPCG(uint64(m), uint64(PDQ)))
					idxCheckMIH(t, rng, PDQ, m, idxTestData(rng, PDQ, 2500, clustered))
				}
			}
			rng := rand.New(rand.NewPCG(3, uint64(PDQ)))
			// An odd table, its last pair one code, of codes near zero:
			// the line's half past the last code (zeros) lies within reach
			// of every query, and must give no hit.
			idxCheckMIH(t, rng, PDQ, 11, idxSparseData(rng, PDQ, 301))
			idxCheckMIH(t, rng, PDQ, 11, idxSpillData(rng, PDQ))
			idxCheckTiles(t, rng)
		})
	}
	if !cpu.X86.HasAVX2 {
		t.Log("no AVX2 here: only the Go scan was run")
	}
}

// TestMihCompressLUT: every entry lists its mask's lanes in order.
func TestMihCompressLUT(t *testing.T) {
	for m, perm := range mihCompressLUT {
		got := 0
		for j := range bits.OnesCount(uint(m)) {
			got |= 1 << perm[j]
			if j > 0 && perm[j] <= perm[j-1] {
				t.Fatalf("mask %#x: lanes %v out of order", m, perm)
			}
		}
		if got != m {
			t.Fatalf("mask %#x: lanes %v", m, perm)
		}
	}
}
