package detector

import (
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"unsafe"
)

// One-word codes (pHash) are searched through cells instead of offsets and
// postings. A 64-bit code is no bigger than two postings, so each slot keeps
// the codes themselves, bucket by bucket, and a bucket is one 64-byte cache
// line addressed directly by its mixed key (index_mix.go): a header word and
// up to mihCellCodes codes. A probe then costs one line, computed without
// reading anything, where offsets, postings and candidate codes cost three
// or more. Buckets that hold more spill the rest, contiguously, into an
// overflow run the header points to; the layout aims at about 4.5 codes a
// bucket, so some one bucket in nine spills. Entry positions sit in a
// parallel array, read only for hits.
//
// The cells are derived from the codes on build and on load; the file
// carries none of them.

// mihCellCodes is the number of codes a cell line holds after its header.
const mihCellCodes = 7

// mihCellTarget is the average number of codes per bucket one-word layouts
// aim at: with 7 in a line, about 11% of buckets spill at 4.5.
const mihCellTarget = 4.5

// The cell search prefetches mihCellAhead lines ahead of the scan, in
// chunks of mihCellChunk. Measured at 10M pHash codes (in-process, 20,000
// distinct queries): ahead 16 to 32 in chunks of 4 are alike, 15.7 us random
// and 18.8 us clustered; chunks of 16 cost 25%, ahead 128 more again: one
// line a probe puts more misses in flight than the miss buffers hold.
const (
	mihCellAhead = 24
	mihCellChunk = 4
)

// mihCells holds one slot's buckets as cache lines.
type mihCells struct {
	// lines[8*mix(key)] is the header of bucket key: its total count in the
	// low 32 bits, the start of its overflow run in the high 32; then up to
	// mihCellCodes codes.
	lines []uint64
	pos   []uint32 // mihCellCodes positions per bucket, parallel to lines
	// ovCodes and ovPos hold the codes past the first mihCellCodes of each
	// bucket, bucket by bucket.
	ovCodes []uint64
	ovPos   []uint32
}

// bytes is the memory the cells hold.
func (c *mihCells) bytes() int64 {
	if c == nil {
		return 0
	}
	return int64(len(c.lines))*8 + int64(len(c.pos))*4 + int64(len(c.ovCodes))*8 + int64(len(c.ovPos))*4
}

// mihBuildCells derives the cells of every slot of a one-word table from its
// codes.
func (t *idxTable) mihBuildCells() {
	if t.words != 1 {
		return
	}
	mihEachSlot(0, len(t.slots), func(k int, count []uint32) []uint32 {
		t.slots[k].cells, count = mihNewCells(t.codes, t.slots[k], count)
		return count
	})
}

// mihNewCells builds one slot's cells, with count as scratch (grown if it
// is short, and returned).
func mihNewCells(codes []uint64, s mihSlot, count []uint32) (*mihCells, []uint32) {
	low := uint(s.width - s.coarse)
	nb := 1 << uint(s.coarse)
	mix := mihMixFor(s.coarse)
	key := func(c uint64) uint32 { return mix.apply(mihSub([]uint64{c}, s.start, s.width) >> low) }
	if cap(count) < nb {
		count = make([]uint32, nb)
	}
	count = count[:nb]
	clear(count)
	for _, c := range codes {
		count[key(c)]++
	}
	// Overflow runs in line order.
	ovStart := make([]uint32, nb)
	ov := uint32(0)
	for b, n := range count {
		ovStart[b] = ov
		if n > mihCellCodes {
			ov += n - mihCellCodes
		}
	}
	cells := &mihCells{
		lines:   idxAlignedUint64s(8 * nb),
		pos:     make([]uint32, mihCellCodes*nb),
		ovCodes: idxAlignedUint64s(int(ov)),
		ovPos:   make([]uint32, ov),
	}
	clear(count) // now the fill cursor
	for i, c := range codes {
		b := key(c)
		j := count[b]
		count[b]++
		if j < mihCellCodes {
			cells.lines[8*int(b)+1+int(j)] = c
			cells.pos[mihCellCodes*int(b)+int(j)] = uint32(i)
			continue
		}
		o := ovStart[b] + j - mihCellCodes
		cells.ovCodes[o] = c
		cells.ovPos[o] = uint32(i)
	}
	for b, n := range count {
		cells.lines[8*b] = uint64(ovStart[b])<<32 | uint64(n)
	}
	return cells, count
}

// mihCellSearch is mih for one-word tables: list the bucket keys of every
// probe (pure arithmetic), prefetch their lines a chunk ahead of the scan,
// scan each line's codes with full distances, then do the same for the
// overflow runs the headers named.
func (t *idxTable) mihCellSearch(q uint64, r int, radii []int8, hits []idxHit, sc *mihScratch) []idxHit {
	keys := sc.cands[:0]
	var ends [mihMaxSlots]int
	qw := [1]uint64{q}
	for k := range t.slots {
		rk := int(radii[k])
		s := &t.slots[k]
		qc := s.mix.apply(mihSub(qw[:], s.start, s.width) >> uint(s.width-s.coarse))
		for j := 0; j <= rk && j <= s.coarse; j++ {
			ms := s.masksOf(j, &sc.masks)
			keys = slices.Grow(keys, len(ms))
			for _, m := range ms {
				keys = append(keys, qc^m)
			}
		}
		ends[k] = len(keys)
	}
	addrs := sc.addrs[:0]
	i := 0
	for k := range t.slots {
		lines := t.slots[k].cells.lines
		for _, key := range keys[i:ends[k]] {
			addrs = append(addrs, uintptr(unsafe.Pointer(&lines[8*int(key)])))
		}
		i = ends[k]
	}
	mihPrefetch(addrs[:min(len(addrs), mihCellAhead)])
	// Overflow runs found on the way: slot, start and length.
	spill := sc.spill[:0]
	i = 0
	for k := range t.slots {
		c := t.slots[k].cells
		lines, pos := c.lines, c.pos
		for ; i < ends[k]; i++ {
			if i%mihCellChunk == 0 {
				if lo := i + mihCellAhead; lo < len(addrs) {
					mihPrefetch(addrs[lo:min(len(addrs), lo+mihCellChunk)])
				}
			}
			b := int(keys[i])
			line := lines[8*b : 8*b+8 : 8*b+8]
			n := uint32(line[0])
			for j := range mihCellCodes {
				// Empty cells hold zero codes; the count keeps them out.
				if d := bits.OnesCount64(line[1+j] ^ q); d <= r && uint32(j) < n {
					hits = append(hits, idxHit{pos: pos[mihCellCodes*b+j], dist: int32(d)})
				}
			}
			if n > mihCellCodes {
				spill = append(spill, uint32(k), uint32(line[0]>>32), n-mihCellCodes)
			}
		}
	}
	addrs = addrs[:0]
	for i := 0; i < len(spill); i += 3 {
		ov := t.slots[spill[i]].cells.ovCodes
		start, end := int(spill[i+1]), int(spill[i+1]+spill[i+2])
		// Every line of the run: clustered lists spill long runs.
		for o := start; o < end; o += 8 {
			addrs = append(addrs, uintptr(unsafe.Pointer(&ov[o])))
		}
		addrs = append(addrs, uintptr(unsafe.Pointer(&ov[end-1])))
	}
	mihPrefetch(addrs)
	for i := 0; i < len(spill); i += 3 {
		c := t.slots[spill[i]].cells
		start, n := spill[i+1], spill[i+2]
		for j, code := range c.ovCodes[start : start+n] {
			if d := bits.OnesCount64(code ^ q); d <= r {
				hits = append(hits, idxHit{pos: c.ovPos[start+uint32(j)], dist: int32(d)})
			}
		}
	}
	sc.cands, sc.addrs, sc.spill = keys, addrs, spill
	runtime.KeepAlive(t)
	return hits
}

// Codes of several words (PDQ) are too big to sit in their buckets, but
// their postings are not: slots after the first keep each bucket's postings
// (pair | low field << pair bits, mihFilter) in one 64-byte line
// addressed by the bucket's mixed key, a header word and up to mihPostCellCap
// postings, the rest of a bigger bucket in an overflow run the header points
// to. A probe is then one line whose address is arithmetic, where an offsets
// lookup and a postings run were two dependent misses. Slot 0 keeps a head
// a bucket, a range of the table, which is ordered by its substring
// (index_heads.go).

// mihPostCellCap is the number of postings a line holds after its header.
const mihPostCellCap = 15

// mihPostCellTarget is the average number of postings a bucket aims at: at
// 9 some 2% of buckets spill. Measured at 10M PDQ codes, r=31, every slot at
// 20 bits (9.5 a bucket) against 19 (19 a bucket, most spilling): median 64
// against 117 us.
const mihPostCellTarget = 9.0

// mihPostCellBudget caps the posting cells of a table, lines and overflow
// runs of all slots together, in bytes an entry, so that 10M PDQ codes stay
// under 1 GiB resident: codes, tags and ids take 37 bytes an entry (tags
// one byte, for a few hundred tags at most); 10 slots of 20 coarse bits
// would take 67 more, of 19 bits 44. At 63, 10M random codes get 8 slots of
// 20 bits and 2 of 19 (990 MiB resident), clustered 7 and 3 (982 MiB).
const mihPostCellBudget = 63.0

// mihPostCells holds one slot's buckets of postings as cache lines.
type mihPostCells struct {
	// lines[16*mix(key)] is the header of bucket key: its count when that
	// is at most mihPostCellCap, else mihPostCellCap+1 plus the start of its
	// overflow run in ov; then up to mihPostCellCap postings.
	lines []uint32
	// ov holds each overflow run as its length, then its postings.
	ov []uint32
	// maxRun is the length of the longest overflow run.
	maxRun uint32
	// chain is the number of bits of the next slot's substring each
	// posting carries above its low field (mihChainBits).
	chain uint
}

func (c *mihPostCells) bytes() int64 {
	if c == nil {
		return 0
	}
	return int64(len(c.lines)+len(c.ov)) * 4
}

// mihAlignedUint32s allocates n zeroed uint32s on a cache-line boundary, so
// that a bucket's line is one line.
func mihAlignedUint32s(n int) []uint32 {
	if n == 0 {
		return nil
	}
	b := idxAlignedBytes(4 * n)
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// mihFitPostCells takes coarse bits from the slots after the first until
// their cells fit mihPostCellBudget, counted on the codes themselves
// (clustered lists spill more than uniform ones): from the slot with the
// most, the last first. A bit less halves a slot's lines and lengthens its
// overflow runs. Measured at 10M PDQ codes, r=31 (in-process medians),
// before the cells were mixed: 7 slots of 20 bits and 3 of 19, 63 us; 6 and
// 4, 64 us; 5 and 5, 71 us. Mixed and on huge pages, where a run costs as
// much as a line (bench/index medians): 6 and 4, 33.3 us; 8 and 2, 29.0-30.3
// us.
func (t *idxTable) mihFitPostCells() {
	if t.words == 1 || len(t.slots) < 2 {
		return
	}
	bytes := make([]int64, len(t.slots))
	var count []uint32
	var total int64
	for k := 1; k < len(t.slots); k++ {
		bytes[k], count = t.mihPostCellBytes(t.slots[k], count)
		total += bytes[k]
	}
	for total > int64(mihPostCellBudget*float64(t.n)) {
		widest := mihWidestCellSlot(t.slots)
		s := &t.slots[widest]
		c := mihClampCoarse(s.coarse-1, s.width, t.idBits)
		if c == s.coarse {
			break
		}
		s.coarse = c
		total -= bytes[widest]
		bytes[widest], count = t.mihPostCellBytes(*s, count)
		total += bytes[widest]
	}
}

// mihPostCellBytes counts the postings of each of slot s's cells, in
// count (grown if short, and returned), and returns the memory its cells
// take.
func (t *idxTable) mihPostCellBytes(s mihSlot, count []uint32) (int64, []uint32) {
	nb := 1 << uint(s.coarse)
	if cap(count) < nb {
		count = make([]uint32, nb)
	}
	count = count[:nb]
	clear(count)
	sh := mihShapeFor(s.width, s.coarse)
	for i := range t.n {
		key, _ := sh.key(mihSub(t.codes[i*t.words:(i+1)*t.words], s.start, s.width))
		count[key]++
	}
	return mihCellBytes(count), count
}

// mihCellBytes is the memory of one slot's cells with the given bucket
// counts.
func mihCellBytes(count []uint32) int64 {
	b := 64 * int64(len(count))
	for _, n := range count {
		if n > mihPostCellCap {
			b += 4 * int64(1+n-mihPostCellCap)
		}
	}
	return b
}

// mihBuildPostCells derives the posting cells of every slot after the first
// of a multi-word table from its codes. It allocates nothing but the cells
// and one count per bucket for each worker, reused from slot to slot:
// garbage made while loading stays resident until the collector runs, and
// an array of substrings per slot added 300 MiB to the resident memory of a
// 10M PDQ index. Slots are built in parallel, one per core.
func (t *idxTable) mihBuildPostCells() {
	if t.words == 1 {
		return
	}
	t.pairShift = uint(mihB2I(mihUseChains()))
	// The workers read the layout of other slots (the next one's, for the
	// chain) from a copy: each writes its own slot's cells.
	layout := slices.Clone(t.slots)
	mihEachSlot(1, len(t.slots), func(k int, count []uint32) []uint32 {
		t.slots[k].pcells, count = t.mihNewPostCells(layout, k, count)
		return count
	})
}

// mihChainBits is the number of bits of the next slot's substring (slot 0
// after the last) that the postings of slot k carry in the bits beside the
// pair and low field that would otherwise be zero, for the pigeonring
// filter (mihFilter). None where the scan has no use for them: it takes
// them into account with AVX-512 (and in Go), not with AVX2.
func (t *idxTable) mihChainBits(slots []mihSlot, k int) uint {
	if !mihUseChains() {
		return 0
	}
	s, next := &slots[k], &slots[(k+1)%len(slots)]
	free := 32 - int(t.pairBits()) - (s.width - s.coarse)
	return uint(max(0, min(free, next.width, mihChainMax)))
}

// mihUseChains says whether postings carry chains (mihChainBits) and name
// pairs of entries (pairBits): where the scan tests chains, with AVX-512
// or in Go, not with AVX2.
func mihUseChains() bool {
	return mihUseAVX512 || !mihUseAVX2
}

// pairBits is the number of bits of a posting that hold its entries. With
// chains a posting names a pair p, positions 2p and 2p+1, the two codes of
// a cache line, which the verification reads whole anyway, and the bit
// saved goes to the chain; without, one position (pairShift 0).
func (t *idxTable) pairBits() uint {
	return uint(max(1, bits.Len32(uint32(max(t.n-1, 0))>>t.pairShift)))
}

// mihChainMax bounds the chain bits a posting carries.
const mihChainMax = 16

// mihEachSlot runs build for slots lo..hi-1 on up to GOMAXPROCS goroutines;
// build gets its worker's count buffer and returns it, grown or not, for
// the worker's next slot. Slots write only their own cells, and read the
// codes.
func mihEachSlot(lo, hi int, build func(k int, count []uint32) []uint32) {
	workers := min(runtime.GOMAXPROCS(0), hi-lo)
	if workers <= 1 {
		var count []uint32
		for k := lo; k < hi; k++ {
			count = build(k, count)
		}
		return
	}
	next := make(chan int, hi-lo)
	for k := lo; k < hi; k++ {
		next <- k
	}
	close(next)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var count []uint32
			for k := range next {
				count = build(k, count)
			}
		})
	}
	wg.Wait()
}

func (t *idxTable) mihNewPostCells(layout []mihSlot, k int, count []uint32) (*mihPostCells, []uint32) {
	s := layout[k]
	nx := layout[(k+1)%len(layout)]
	chain := t.mihChainBits(layout, k)
	nb := 1 << uint(s.coarse)
	if cap(count) < nb {
		count = make([]uint32, nb)
	}
	count = count[:nb]
	clear(count)
	w := t.words
	sh := mihShapeFor(s.width, s.coarse)
	mix := sh.mix
	for i := range t.n {
		key, _ := sh.key(mihSub(t.codes[i*w:(i+1)*w], s.start, s.width))
		count[mix.apply(key)]++
	}
	ov := uint32(0)
	for _, n := range count {
		if n > mihPostCellCap {
			ov += 1 + n - mihPostCellCap
		}
	}
	c := &mihPostCells{lines: mihAlignedUint32s(16 * nb), ov: mihAlignedUint32s(int(ov)), chain: chain}
	pb := t.pairBits()
	low := uint(s.width-s.coarse) + pb
	ov = 0
	for b, n := range count {
		h := n
		if n > mihPostCellCap {
			h = mihPostCellCap + 1 + ov
			c.ov[ov] = n - mihPostCellCap
			c.maxRun = max(c.maxRun, n-mihPostCellCap)
			ov += 1 + n - mihPostCellCap
		}
		c.lines[16*b] = h
	}
	clear(count) // now the fill cursor
	// The postings land at random lines: a block's lines are prefetched
	// while the block before is written, which keeps the misses in flight
	// (a 10M PDQ index on 4 KiB pages loads in 2.3 s instead of 2.6).
	const block = 64
	var keys, posts [2][block]uint32
	var addrs [block]uintptr
	base := uintptr(unsafe.Pointer(unsafe.SliceData(c.lines)))
	fill := func(h, i0 int) int {
		n := min(block, t.n-i0)
		for k := range n {
			i := i0 + k
			code := t.codes[i*w : (i+1)*w]
			key, lf := sh.key(mihSub(code, s.start, s.width))
			b := mix.apply(key)
			ch := nx.top(code, chain)
			keys[h][k], posts[h][k] = b, uint32(i>>t.pairShift)|lf<<pb|ch<<low
			addrs[k] = base + 64*uintptr(b)
		}
		mihPrefetch(addrs[:n])
		return n
	}
	n := fill(0, 0)
	for i0, h := 0, 0; i0 < t.n; i0, h = i0+block, 1-h {
		next := 0
		if i0+block < t.n {
			next = fill(1-h, i0+block)
		}
		for k := range n {
			b, p := keys[h][k], posts[h][k]
			j := count[b]
			count[b]++
			if j < mihPostCellCap {
				c.lines[16*int(b)+1+int(j)] = p
				continue
			}
			start := c.lines[16*int(b)] - (mihPostCellCap + 1)
			c.ov[start+1+j-mihPostCellCap] = p
		}
		n = next
	}
	runtime.KeepAlive(c)
	return c, count
}
