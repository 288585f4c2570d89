package detector

import (
	"cmp"
	"math/bits"
	"slices"
)

// Slot 0 of a multi-word table. The table is ordered by slot-0 key, so a
// bucket is a range of positions; its bounds are kept where the key's mix
// places them (index_mix.go), as the cells are. In key order the bounds a
// probe reads sit at power-of-two strides, in the same DRAM banks, and the
// misses queue: at 10M PDQ codes, r=31, slot 0's 254 probes took 4.6 us of
// a 26.5 us query in key order and 3.1 us mixed (in-process medians).
//
// Heads are read a line at a time: the 16 heads of a line are a tile
// (index_tile.go) of bucket keys, a Hamming ball of radius 1 in the key's
// lowest 15 bits, and lines are placed by the mix of the rest (headOf). A
// radius-2 search of a 22-bit key reads its 254 heads from 110 lines
// instead of 254.
//
// heads[headOf(key)] packs the bucket's start in its low headBits bits (the
// table's position bits) and its length above them. A bucket too long for
// the bits above (255 codes when the table has at most 16M entries) has all
// ones there, and its end in big. The file keeps the bounds in key order;
// they are packed in place on load.

// mihHeadLaneBits is the number of bits of a head's index that pick it
// within its line: 16 four-byte heads to a line.
const mihHeadLaneBits = 4

// mihHeadLayout sets what places the heads of slot 0 of a multi-word table
// in lines: its lane bits, the shape of its lines (the bucket key as a
// substring, the line key as its cell key) and the mix of line keys.
func (s *mihSlot) mihHeadLayout() {
	s.lane = uint(max(0, min(mihHeadLaneBits, s.coarse-1)))
	lineBits := s.coarse - int(s.lane)
	s.shape = mihShapeFor(s.coarse, lineBits)
	s.shift = int(s.shape.k)
	s.mix = s.shape.mix
}

// mihHeadTables lists the masks and head probes of slot 0 of a
// multi-word table, whose head layout is set, for the radii up to
// mihMaskRadius.
func (s *mihSlot) mihHeadTables() {
	cp := s.coarse - int(s.lane) - s.shift
	s.masks = mihMasks(cp, min(mihMaskRadius, cp), s.shift, s.mix)
	s.hprobes = make([][][]uint32, len(s.masks))
	for rk := range s.hprobes {
		s.hprobes[rk] = make([][]uint32, len(s.shape.mixedE))
		for e := range s.hprobes[rk] {
			s.hprobes[rk][e] = s.mihHeadProbes(nil, rk, uint32(e), nil)
		}
	}
}

// headOf is where the head of bucket key k lies: its line is the mix of
// the key's line key, its lane the key's low field.
func (s *mihSlot) headOf(k uint32) uint32 {
	line, low := s.shape.key(k)
	return s.mix.apply(line)<<s.lane | low
}

// mihLong is the length field of a head whose bucket's end is in big.
func mihLong(headBits uint) uint32 {
	return uint32(1)<<(32-headBits) - 1
}

// mihPackHeads turns off, the 2^coarse+1 bounds of the slot's buckets in
// key order, into its heads, in the first 2^coarse words of off, and its
// big ends, with headBits bits for a start.
func (s *mihSlot) mihPackHeads(off []uint32, headBits uint) {
	nb := 1 << uint(s.coarse)
	s.mihHeadLayout()
	long := mihLong(headBits)
	var big []uint64 // head index << 32 | end
	for k := range nb {
		lo, n := off[k], off[k+1]-off[k]
		switch {
		case n == 0:
			lo = 0 // an empty bucket's start may be the table's end, past headBits
		case n >= long:
			big = append(big, uint64(s.headOf(uint32(k)))<<32|uint64(off[k+1]))
			n = long
		}
		off[k] = lo | n<<headBits
	}
	heads := off[:nb:nb]
	// Bucket k moves to headOf(k), one cycle of the permutation at a time.
	done := make([]uint64, (nb+63)/64)
	for k := range nb {
		if done[k/64]>>(k%64)&1 != 0 {
			continue
		}
		v := heads[k]
		for j := k; ; {
			d := int(s.headOf(uint32(j)))
			done[d/64] |= 1 << (d % 64)
			heads[d], v = v, heads[d]
			if d == k {
				break
			}
			j = d
		}
	}
	slices.Sort(big)
	s.heads, s.big, s.headBits = heads, big, headBits
}

// mihBucket0 returns the position range of the slot-0 bucket whose head is
// heads[p].
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
		lo, hi := s.mihBucket0(s.headOf(uint32(k)))
		off[k+1] = off[k] + hi - lo
	}
	return off
}

// mihHeadProbes lists the heads a search of slot 0 at radius rk reads for
// a query whose key has error position e0, relative to the query's own
// head position with its error position cleared (see mih): line offset
// << lane | plain low offset << lt | e. The line of each codeword near the
// query's block is searched with the coarse-plain masks the radius leaves,
// and in each line the heads within the rest: their plain low bits' and
// their block's distance. With no tile (small keys) the lane is all plain
// low bits.
func (s *mihSlot) mihHeadProbes(dst []uint32, rk int, e0 uint32, buf *[]uint32) []uint32 {
	sh := s.shape
	lines := s.coarse - int(s.lane)
	nE := uint32(1)
	if sh.tile != nil {
		nE = 1 << sh.lt
	}
	for _, w := range sh.mixedE[e0] {
		d := max(int(w.d)-1, 0)
		if d > rk {
			break
		}
		for j := 0; j <= rk-d && j <= lines-s.shift; j++ {
			for _, m := range s.masksOf(j, buf) {
				off := (w.info ^ m) << s.lane
				for pl := range uint32(1) << sh.plain {
					for e := range nE {
						// With no tile, w.x and e are 0.
						dist := j + bits.OnesCount32(pl) + bits.OnesCount32(w.x^(1<<e>>1))
						if dist <= rk {
							dst = append(dst, off|pl<<sh.lt|e)
						}
					}
				}
			}
		}
	}
	return dst
}

// mihListHeads appends to addrs the address of each head of slot 0 (at
// base) within rk of bucket key key, line by line.
func (s *mihSlot) mihListHeads(addrs []uintptr, key uint32, rk int, base uintptr, sc *mihScratch) []uintptr {
	line, qpl, e0 := s.shape.query(key)
	q := s.mix.apply(line)<<s.lane | qpl<<s.shape.lt
	var hs []uint32
	if rk < len(s.hprobes) {
		hs = s.hprobes[rk][e0]
	} else {
		sc.heads = s.mihHeadProbes(sc.heads[:0], rk, e0, &sc.masks)
		hs = sc.heads
	}
	addrs = slices.Grow(addrs, len(hs))
	for _, h := range hs {
		addrs = append(addrs, base+4*uintptr(q^h))
	}
	return addrs
}
