package detector

import (
	"cmp"
	"slices"
)

// Slot 0 of a multi-word table. The table is ordered by slot-0 key, so a
// bucket is a range of positions; its bounds are kept where the key's mix
// places them (index_mix.go), as the cells are. In key order the bounds a
// probe reads sit at power-of-two strides, in the same DRAM banks, and the
// misses queue: at 10M PDQ codes, r=31, slot 0's 254 probes took 4.6 us of
// a 26.5 us query in key order and 3.1 us mixed (in-process medians).
//
// heads[mix(key)] packs the bucket's start in its low headBits bits (the
// table's position bits) and its length above them. A bucket too long for
// the bits above (255 codes when the table has at most 16M entries) has all
// ones there, and its end in big. The file keeps the bounds in key order;
// they are packed in place on load.

// mihLong is the length field of a head whose bucket's end is in big.
func mihLong(headBits uint) uint32 {
	return uint32(1)<<(32-headBits) - 1
}

// mihPackHeads turns off, the 2^coarse+1 bounds of the slot's buckets in
// key order, into its heads, in the first 2^coarse words of off, and its
// big ends, with headBits bits for a start.
func (s *mihSlot) mihPackHeads(off []uint32, headBits uint) {
	nb := 1 << uint(s.coarse)
	mix := mihMixFor(s.coarse)
	long := mihLong(headBits)
	var big []uint64 // mixed key << 32 | end
	for k := range nb {
		lo, n := off[k], off[k+1]-off[k]
		switch {
		case n == 0:
			lo = 0 // an empty bucket's start may be the table's end, past headBits
		case n >= long:
			big = append(big, uint64(mix.apply(uint32(k)))<<32|uint64(off[k+1]))
			n = long
		}
		off[k] = lo | n<<headBits
	}
	heads := off[:nb:nb]
	// Bucket k moves to mix(k), one cycle of the permutation at a time.
	done := make([]uint64, (nb+63)/64)
	for k := range nb {
		if done[k/64]>>(k%64)&1 != 0 {
			continue
		}
		v := heads[k]
		for j := k; ; {
			d := int(mix.apply(uint32(j)))
			done[d/64] |= 1 << (d % 64)
			heads[d], v = v, heads[d]
			if d == k {
				break
			}
			j = d
		}
	}
	slices.Sort(big)
	s.heads, s.big, s.headBits, s.mix = heads, big, headBits, mix
}

// mihBucket0 returns the position range of the slot-0 bucket whose head is
// at mixed key p.
func (s *mihSlot) mihBucket0(p uint32) (lo, hi uint32) {
	v := s.heads[p]
	lo, n := v&(1<<s.headBits-1), v>>s.headBits
	if n != mihLong(s.headBits) {
		return lo, lo + n
	}
	i, _ := slices.BinarySearchFunc(s.big, p, func(e uint64, p uint32) int { return cmp.Compare(uint32(e>>32), p) })
	return lo, uint32(s.big[i])
}

// mihOffsets0 returns the bounds of slot 0's buckets in key order, as the
// file keeps them.
func (t *idxTable) mihOffsets0() []uint32 {
	s := &t.slots[0]
	nb := 1 << uint(s.coarse)
	off := make([]uint32, nb+1)
	for k := range nb {
		lo, hi := s.mihBucket0(s.mix.apply(uint32(k)))
		off[k+1] = off[k] + hi - lo
	}
	return off
}
