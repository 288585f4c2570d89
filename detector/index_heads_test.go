package detector

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
)

// Packing slot 0's bounds keeps every bucket's range, whatever the bits
// left for its length: empty buckets (also past the last position of a
// table of 2^k entries), buckets of exactly and past the longest length a
// head holds, and a single bucket holding the whole table.
func TestMihPackHeads(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name   string
		c      int
		idBits uint
		sizes  func(k int) uint32
	}{
		{"small buckets, 8 length bits", 10, 24, func(int) uint32 { return uint32(rng.IntN(5)) }},
		{"3 length bits", 10, 29, func(int) uint32 { return uint32(rng.IntN(12)) }},
		{"2 length bits, lengths 0-4", 12, 30, func(int) uint32 { return uint32(rng.IntN(5)) }},
		{"one bucket holds all", 8, 29, func(k int) uint32 {
			if k == 37 {
				return 100
			}
			return 0
		}},
		{"trailing empties, 2^k entries", 6, 8, func(k int) uint32 {
			if k < 32 {
				return 8
			}
			return 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nb := 1 << tc.c
			off := make([]uint32, nb+1)
			for k := range nb {
				off[k+1] = off[k] + tc.sizes(k)
			}
			n := off[nb]
			if n > 1<<tc.idBits {
				t.Fatalf("test table of %d entries does not fit %d bits", n, tc.idBits)
			}
			want := slices.Clone(off)
			s := mihSlot{coarse: tc.c}
			s.mihPackHeads(off, tc.idBits)
			long := 0
			for k := range nb {
				lo, hi := s.mihBucket0(s.headOf(uint32(k)))
				if hi == lo {
					continue // an empty bucket's start is not kept
				}
				if lo != want[k] || hi != want[k+1] {
					t.Fatalf("bucket %d: [%d, %d), want [%d, %d)", k, lo, hi, want[k], want[k+1])
				}
				if hi-lo >= mihLong(tc.idBits) {
					long++
				}
			}
			if long != len(s.big) {
				t.Fatalf("%d long buckets, %d ends in big", long, len(s.big))
			}
			tab := idxTable{n: int(n), slots: []mihSlot{s}}
			if got := tab.mihOffsets0(); !slices.Equal(got, want) {
				t.Fatalf("offsets in key order do not round-trip")
			}
		})
	}
}

// TestMihHeadLines checks that slot 0's heads, placed in lines as Hamming
// balls, are a permutation of the bucket keys, and that a search lists
// exactly the heads of the keys within its radius, each once, for keys
// with and without a tile and radii with and without listed probes.
func TestMihHeadLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []int{1, 2, 3, 5, 8, 12, 15, 16, 19} {
		s := mihSlot{coarse: c}
		s.mihHeadLayout()
		s.mihHeadTables()
		nb := 1 << c
		keyAt := make(map[uint32]uint32, nb)
		for k := range uint32(nb) {
			h := s.headOf(k)
			if h >= uint32(nb) {
				t.Fatalf("c=%d: key %#x at head %#x, past %d", c, k, h, nb)
			}
			if _, dup := keyAt[h]; dup {
				t.Fatalf("c=%d: two keys at head %#x", c, h)
			}
			keyAt[h] = k
		}
		var sc mihScratch
		for range 20 {
			qk := uint32(rng.IntN(nb))
			for rk := range 6 {
				listed := make(map[uint32]bool)
				for _, a := range s.mihListHeads(nil, qk, rk, 0, &sc) {
					h := uint32(a / 4)
					if listed[h] {
						t.Fatalf("c=%d r=%d: head %#x listed twice", c, rk, h)
					}
					listed[h] = true
					if d := bits.OnesCount32(keyAt[h] ^ qk); d > rk {
						t.Fatalf("c=%d r=%d: key %#x at distance %d listed", c, rk, keyAt[h], d)
					}
				}
				want := 0
				for k := range uint32(nb) {
					if bits.OnesCount32(k^qk) <= rk {
						want++
					}
				}
				if len(listed) != want {
					t.Fatalf("c=%d r=%d: %d heads listed, %d keys within reach", c, rk, len(listed), want)
				}
			}
		}
	}
}
