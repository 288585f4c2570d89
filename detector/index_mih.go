package detector

import (
	"math"
	"math/bits"
	"runtime"
	"slices"
	"unsafe"
)

// Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Exact Search in
// Hamming Space with Multi-Index Hashing"): a code is cut into m disjoint
// substrings ("slots"); slot k gets a search radius r_k with
// sum(r_k+1) = r+1. If a code were farther than r_k from the query in every
// slot, its distance would be at least sum(r_k+1) > r, so every code within r
// lies within r_k in some slot k. Searching each slot's radius-r_k ball
// therefore finds every match; full distances weed out the rest. This is the
// generalised pigeonhole bound; with r_k = floor(r/m) for all k it is the
// classic one, and the even split of r+1 units over 16 slots of 16 bits is
// Meta's PDQ layout for r <= 31.
//
// A slot's buckets are addressed by a `coarse`-bit key of its substring.
// Entries are stored in the order of their slot-0 substring, so slot 0's
// buckets are position ranges of the table, each given by one packed head
// (index_heads.go). The other slots of a PDQ table keep their postings in
// cells, one cache line a bucket: what of the substring the key leaves out
// sits beside the entry's pair in each posting, so a probe reads one line
// and tests each posting's exact distance in the slot before touching any
// code; the cells are Hamming balls rather than subcubes where the key has
// room (index_tile.go). One-word codes (pHash) keep the codes themselves in
// their cells. See index_cells.go. Cell lines and heads are placed by an
// invertible linear map of the key, not in key order, so that a probe's
// lines do not crowd the same DRAM banks (index_mix.go).

// mihMaxSlots bounds m; with substrings of at most 32 bits, 256-bit codes
// need at least 8 and no layout here uses more than 16.
const mihMaxSlots = 16

// mihBigTable is the table size from which memory, not speed, caps the
// number of slots.
const mihBigTable = 4_000_000

// mihMinEntries is the table size under which a linear scan always wins and
// no slot tables are built.
const mihMinEntries = 2048

// mihBucketTarget0 is the average number of codes a slot-0 bucket aims at:
// its buckets are runs of codes with no low-bit filter, so small buckets pay
// off.
const mihBucketTarget0 = 2

// Cost model, in rough nanoseconds on one core, used to pick the layout at
// build time and, per query radius, the per-slot radii or the linear scan.
// It assumes uniformly spread codes; clustered lists only make MIH find more
// true matches, which any method must return.
const (
	mihCostProbe   = 35.0 // one bucket's first line, usually a cache miss
	mihCostScan    = 0.3  // one posting of a cell line, low bits tested 16 at a time
	mihCostScan0   = 4.0  // one slot-0 code, contiguous, full distance
	mihCostVerify  = 12.0 // one random code fetch and full distance
	mihCostInPlace = 2.0  // one one-word code in a cell line, full distance
	mihCostWord    = 0.45 // one word of the linear scan
)

type mihSlot struct {
	start, width int // bit range within the code, from its most significant bit
	coarse       int // high bits of the substring that address buckets
	// heads and big give the position range of each bucket of slot 0 of a
	// multi-word table, its start in the low headBits bits of a head
	// (index_heads.go).
	heads    []uint32
	big      []uint64
	headBits uint
	// cells holds a one-word table's buckets as cache lines; nil for wider
	// codes.
	cells *mihCells
	// pcells holds the postings of a wider table's slot after the first,
	// in cells of the given shape (index_tile.go); slot 0's head lines have
	// a shape too (index_heads.go).
	pcells *mihPostCells
	shape  *mihCellShape
	// mix places the buckets of every slot: bucket key k is line mix(k)
	// (or, of slot 0, the line of heads mix(its line key)).
	mix *mihMix
	// masks[j] lists the coarse-key masks with j bits set, mixed, for the
	// radii queries use; larger radii enumerate them on the fly. In a
	// tiled cell slot they cover the key's coarse-plain bits only, above
	// its shift bits of codeword information.
	masks [][]uint32
	shift int
	// probes[rk][e] lists the cell lines of a search at radius rk of a
	// posting-cell slot, for a query whose block has error position e,
	// relative to the query's key (mihCellProbe); for the radii whose
	// masks are listed.
	probes [][][]mihCellProbe
	// Slot 0 of a multi-word table keeps its heads 1<<lane to a line, in
	// the given shape (index_heads.go); hprobes[rk][e] lists the heads a
	// search reads as probes does the lines of a cell slot.
	lane    uint
	hprobes [][][]uint32
}

// mihCellProbe is a cell line a search reads: its key is the query's XOR
// off (both mixed), and word is the distance its postings are allowed |
// x<<8, as an overflow run's word.
type mihCellProbe struct {
	off, word uint32
}

// Software pipelining of the prefetches: how far ahead, in buckets or
// candidates, and in chunks of how many. Measured at 10M PDQ codes, r=31,
// with cells placed by mix on huge pages (in-process medians): 32 ahead
// 46 us, 48 40 us, 64 36 us, 80 to 160 32-33 us, 256 35 us. Before the
// cells were mixed, 32 to 256 were alike: the misses queued in DRAM banks.
// With the cells tiled (index_tile.go) and the scan leaner, 96 ahead took
// 20.6-20.8 us, 112 20.3-20.5, 128 19.9-20.4, 144 20.3-20.6 and 160 21.4;
// the verification alone at 96 or 192 ahead, the rest at 128, 20.3 and
// 20.8.
const (
	mihAhead = 128
	mihChunk = 16
)

// mihMaskRadius is the largest radius whose masks are listed in advance.
const mihMaskRadius = 3

// mihPrepare fills in what a table derives from its layout: masks, plans.
func (t *idxTable) mihPrepare(force bool) {
	type kind struct {
		coarse, shift int
		mix           *mihMix
	}
	masks := make(map[kind][][]uint32)
	type cellKind struct {
		width, coarse int
	}
	probes := make(map[cellKind][][][]mihCellProbe)
	for k := range t.slots {
		s := &t.slots[k]
		s.mix = mihMixFor(s.coarse)
		s.shape, s.shift, s.lane = nil, 0, 0
		switch {
		case t.words > 1 && k == 0:
			s.mihHeadLayout()
			s.mihHeadTables()
			continue
		case t.words > 1:
			s.shape = mihShapeFor(s.width, s.coarse)
			s.shift = int(s.shape.k)
			s.mix = s.shape.mix
		}
		kd := kind{s.coarse, s.shift, s.mix}
		if _, ok := masks[kd]; !ok {
			masks[kd] = mihMasks(s.coarse-s.shift, min(mihMaskRadius, s.coarse-s.shift), s.shift, s.mix)
		}
		s.masks = masks[kd]
		if s.shape != nil {
			ck := cellKind{s.width, s.coarse}
			if _, ok := probes[ck]; !ok {
				probes[ck] = s.mihCellProbes()
			}
			s.probes = probes[ck]
		}
	}
	t.plans = mihPlans(t, force)
}

// mihCellProbes lists the probes of a posting-cell slot for each radius
// whose masks are listed and each error position of the query's block.
func (s *mihSlot) mihCellProbes() [][][]mihCellProbe {
	out := make([][][]mihCellProbe, len(s.masks))
	for rk := range out {
		out[rk] = make([][]mihCellProbe, len(s.shape.mixedE))
		for e := range s.shape.mixedE {
			out[rk][e] = s.mihAppendCellProbes(nil, rk, uint32(e), nil)
		}
	}
	return out
}

// mihAppendCellProbes appends the probes of a search of a posting-cell
// slot at radius rk for a query whose block has error position e0: the
// cells of the codewords near the block, each with the coarse-plain masks
// of the distance its block leaves, and the distance its postings are then
// allowed. Masks past the listed ones are enumerated into *buf. The result
// has room for the assembly's last group of eight (mihListProbes).
func (s *mihSlot) mihAppendCellProbes(dst []mihCellProbe, rk int, e0 uint32, buf *[]uint32) []mihCellProbe {
	for _, w := range s.shape.mixedE[e0] {
		d := max(int(w.d)-1, 0)
		if d > rk {
			break
		}
		for j := 0; j <= rk-d && j <= s.coarse-s.shift; j++ {
			for _, m := range s.masksOf(j, buf) {
				dst = append(dst, mihCellProbe{off: w.info ^ m, word: uint32(rk-j) | w.x<<8})
			}
		}
	}
	return slices.Grow(dst, mihProbePad)[:len(dst)]
}

// mihListProbes appends to addrs the line of each of ps for a query of
// key qc in the cells at base, and its word to xs.
func mihListProbes(addrs []uintptr, xs []uint32, ps []mihCellProbe, qc uint32, base uintptr) ([]uintptr, []uint32) {
	n := len(addrs)
	addrs = slices.Grow(addrs, len(ps)+mihProbePad)[:n+len(ps)]
	xs = slices.Grow(xs, len(ps)+mihProbePad)[:n+len(ps)]
	if len(ps) > 0 && mihUseAVX512 && cap(ps)-len(ps) >= mihProbePad {
		mihListProbesAVX512(unsafe.SliceData(addrs[n:]), unsafe.SliceData(xs[n:]), unsafe.SliceData(ps), len(ps), qc, base)
		return addrs, xs
	}
	da, dx := addrs[n:n+len(ps)], xs[n:n+len(ps)]
	for i, p := range ps {
		da[i] = base + 64*uintptr(qc^p.off)
		dx[i] = p.word
	}
	return addrs, xs
}

// mihProbePad is the spare room mihListProbesAVX512 reads and writes past
// the end of its slices: it works eight at a time.
const mihProbePad = 8

// mihMasks lists, for j = 0..maxJ, the c-bit masks with exactly j bits set,
// each shifted left by shift and put through mix.
func mihMasks(c, maxJ, shift int, mix *mihMix) [][]uint32 {
	out := make([][]uint32, maxJ+1)
	for j := range out {
		out[j] = mihAppendMasks(nil, c, j, shift, mix)
	}
	return out
}

// mihAppendMasks appends to dst every c-bit mask with exactly j bits set, in
// increasing order (Gosper's hack), each shifted left by shift and put
// through mix.
func mihAppendMasks(dst []uint32, c, j, shift int, mix *mihMix) []uint32 {
	if j == 0 {
		return append(dst, 0)
	}
	lim := uint64(1) << uint(c)
	for m := uint64(1)<<uint(j) - 1; m < lim; {
		dst = append(dst, mix.apply(uint32(m<<uint(shift))))
		u := m & -m
		v := m + u
		m = v + ((v^m)/u)>>2
	}
	return dst
}

// masksOf returns the slot's (mixed) coarse-key masks with j bits set: the
// listed ones, or for radii past mihMaskRadius those enumerated into *buf.
func (s *mihSlot) masksOf(j int, buf *[]uint32) []uint32 {
	if j < len(s.masks) {
		return s.masks[j]
	}
	*buf = mihAppendMasks((*buf)[:0], s.coarse-int(s.lane)-s.shift, j, s.shift, s.mix)
	return *buf
}

// mihPlan is how a query of one radius runs.
type mihPlan struct {
	linear bool
	radii  []int8 // per slot; -1 means the slot is not searched
}

// top returns the top n bits of the slot's substring of code c.
func (s *mihSlot) top(c []uint64, n uint) uint32 {
	return mihSub(c, s.start, s.width) >> (uint(s.width) - n)
}

// mihSub extracts the width-bit substring at bit start of code c.
func mihSub(c []uint64, start, width int) uint32 {
	w := start >> 6
	o := uint(start & 63)
	v := c[w] << o
	if o != 0 && w+1 < len(c) {
		v |= c[w+1] >> (64 - o)
	}
	return uint32(v >> (64 - uint(width)))
}

// mihScratch holds one query's working buffers; pooled so that a query
// allocates nothing once warm.
type mihScratch struct {
	cands  []uint32
	addrs  []uintptr      // lines to prefetch
	xs     []uint32       // the tile's x of each cell line, beside addrs
	spill  []uint32       // overflow runs found by the scan
	masks  []uint32       // masks of radii past mihMaskRadius, one j at a time
	heads  []uint32       // slot 0's heads for radii past mihMaskRadius
	probes []mihCellProbe // a cell slot's probes for radii past it
}

// mih runs the multi-index search with the given per-slot radii.
//
// A query at 10 million entries touches thousands of buckets and codes at
// random, each a likely cache and TLB miss. Done one bucket at a time, every
// miss waits for the one before it (bucket, then code). So the search runs
// in phases over flat arrays: list every bucket, prefetch its line while
// scanning the lines listed a little earlier, gather candidates from them,
// then prefetch and verify the candidates' codes. Within a phase the loads
// do not depend on each other and the CPU overlaps them; this took the median
// at 10M PDQ codes, r=31, from about 560 us (bucket by bucket) to about
// 100 us, posting cells (one line a bucket, not an offsets lookup and a
// postings run) scanned and verified in assembly to about 52 us with AVX-512
// (index_scan_amd64.go), cells placed by mix (index_mix.go) on huge pages
// to about 29-33 us, and Hamming-ball cells and heads (index_tile.go,
// index_heads.go), lines in groups of four and postings naming pairs of
// codes to about 16 us (bench/index/README.md). One-word tables go through
// mihCellSearch instead.
func (t *idxTable) mih(q *Code, r int, radii []int8, hits []idxHit, sc *mihScratch) []idxHit {
	if t.words == 1 {
		return t.mihCellSearch(q[0], r, radii, hits, sc)
	}
	qw := q[:t.words]
	// Slot 0's buckets are position ranges of the table; their heads are
	// listed first, by address, line by line.
	addrs := sc.addrs[:0]
	n0 := 0
	if rk := int(radii[0]); rk >= 0 {
		s := &t.slots[0]
		base := uintptr(unsafe.Pointer(unsafe.SliceData(s.heads)))
		addrs = s.mihListHeads(addrs, mihSub(qw, s.start, s.width)>>uint(s.width-s.coarse), rk, base, sc)
		n0 = len(addrs)
	}
	// Then the line of each cell, which needs nothing but the key, and
	// beside it in xs its word: the distance its postings are allowed and
	// its tile's x (mihFilter).
	var ends [mihMaxSlots]int
	var filters [mihMaxSlots]mihFilter
	ends[0] = len(addrs)
	xs := slices.Grow(sc.xs[:0], len(addrs))[:len(addrs)] // none for slot 0
	pairBits := uint32(t.pairBits())
	for k := 1; k < len(t.slots); k++ {
		rk := int(radii[k])
		s := &t.slots[k]
		sh := s.shape
		key, qpl, e0 := sh.query(mihSub(qw, s.start, s.width))
		qc := s.mix.apply(key)
		f := &filters[k]
		*f = mihFilter{q: qpl, pairBits: pairBits, lt: uint32(sh.lt), plain: uint32(sh.plain)}
		if chain := s.pcells.chain; chain > 0 {
			nk := (k + 1) % len(t.slots)
			nx := &t.slots[nk]
			f.q |= nx.top(qw, chain) << sh.plain
			f.c2 = uint32(int(radii[nk]) + 1)
		} else {
			f.c2 = 1 << 16 // no chain: no second bound
		}
		var ps []mihCellProbe
		switch {
		case rk < 0:
		case rk < len(s.probes):
			ps = s.probes[rk][e0]
		default:
			sc.probes = s.mihAppendCellProbes(sc.probes[:0], rk, e0, &sc.masks)
			ps = sc.probes
		}
		base := uintptr(unsafe.Pointer(unsafe.SliceData(s.pcells.lines)))
		addrs, xs = mihListProbes(addrs, xs, ps, qc, base)
		ends[k] = len(addrs)
	}
	// Prefetching runs mihAhead addresses ahead of their use, a chunk at a
	// time: a burst of thousands would overflow the miss buffers. Slot 0's
	// heads are read as their turn comes, and the lines of each bucket's
	// first and last codes prefetched for the verification.
	mihPrefetch(addrs[:min(len(addrs), mihAhead)])
	cands := sc.cands[:0]
	if n0 > 0 {
		s := &t.slots[0]
		base := uintptr(unsafe.Pointer(unsafe.SliceData(s.heads)))
		codes := uintptr(unsafe.Pointer(unsafe.SliceData(t.codes)))
		last := uint32(t.n - 1)
		ps := t.pairShift
		var pf [2]uintptr
		for i, a := range addrs[:n0] {
			if i%mihChunk == 0 {
				if lo := i + mihAhead; lo < len(addrs) {
					mihPrefetch(addrs[lo:min(len(addrs), lo+mihChunk)])
				}
			}
			lo, hi := s.mihBucket0(uint32((a - base) / 4))
			pf[0] = codes + 32*uintptr(min(lo, last))
			pf[1] = codes + 32*uintptr(min(hi-1, last))
			mihPrefetch(pf[:])
			// The bucket's pairs (or positions, pairShift 0) from lo's to
			// hi-1's; none for an empty bucket, whose lo and hi are 0. Four
			// are written whether or not the bucket has them: most have
			// fewer, and a branch on the count would often be mispredicted.
			p, np := lo>>ps, (int(hi)-1)>>ps-int(lo>>ps)+1
			nc := len(cands)
			cands = slices.Grow(cands, 4)[:nc+4]
			cands[nc], cands[nc+1], cands[nc+2], cands[nc+3] = p, p+1, p+2, p+3
			cands = cands[:nc+min(np, 4)]
			for j := 4; j < np; j++ {
				cands = append(cands, p+uint32(j))
			}
		}
	}
	// Cells: postings are filtered on their low fields before any code is
	// read. Overflow runs found on the way, slot by slot: the start of the
	// run in the slot's ov and the line's word (mihFilter).
	spill := sc.spill[:0]
	var spillEnds [mihMaxSlots]int
	if mihUseAVX512 || mihUseAVX2 {
		// The scan lists every overflow run it finds, (start, run word),
		// and prefetches its first two lines, so that the runs are in cache
		// when their turn comes; nothing here reads the lines again. It
		// prefetches mihAhead lines ahead without checking where the list
		// ends: past it, the last line again.
		if n := len(addrs); n > 0 {
			addrs = slices.Grow(addrs, mihAhead)
			pad := addrs[n : n+mihAhead]
			for i := range pad {
				pad[i] = addrs[n-1]
			}
		}
		for k := 1; k < len(t.slots); k++ {
			i0, i1 := ends[k-1], ends[k]
			if i1 > i0 {
				c := t.slots[k].pcells
				cands = slices.Grow(cands, mihPostCellCap*(i1-i0)+16)
				spill = slices.Grow(spill, 2*(i1-i0))
				out := cands[len(cands):cap(cands)]
				sp := spill[len(spill):cap(spill)]
				nout, nsp, _ := mihScanCells(&addrs[i0], &xs[i0], i1-i0, mihAhead,
					&filters[k], &out[0], &sp[0], unsafe.SliceData(c.ov))
				cands = cands[:len(cands)+nout]
				spill = spill[:len(spill)+2*nsp]
			}
			spillEnds[k] = len(spill)
		}
		for k := 1; k < len(t.slots); k++ {
			c := t.slots[k].pcells
			s0, s1 := spillEnds[k-1], spillEnds[k]
			switch {
			case s1 == s0:
			case mihUseAVX512:
				// No run is longer than the slot's longest.
				cands = slices.Grow(cands, (s1-s0)/2*int(c.maxRun)+16)
				out := cands[len(cands):cap(cands)]
				nout := mihScanRunsAVX512(unsafe.SliceData(c.ov), &spill[s0], (s1-s0)/2, &filters[k], &out[0])
				cands = cands[:len(cands)+nout]
			default:
				cands = mihScanRuns(cands, c.ov, spill[s0:s1], &filters[k])
			}
		}
	} else {
		for k := 1; k < len(t.slots); k++ {
			c := t.slots[k].pcells
			f := &filters[k]
			base := uintptr(unsafe.Pointer(unsafe.SliceData(c.lines)))
			for i := ends[k-1]; i < ends[k]; i++ {
				if i%mihChunk == 0 {
					if lo := i + mihAhead; lo < len(addrs) {
						mihPrefetch(addrs[lo:min(len(addrs), lo+mihChunk)])
					}
				}
				a := addrs[i]
				b := int((a - base) / 4)
				line := c.lines[b : b+16 : b+16]
				h := line[0]
				word := xs[i]
				cands = slices.Grow(cands, mihPostCellCap)
				cands = f.pass(cands, line[1:1+min(h, mihPostCellCap)], word)
				if h > mihPostCellCap {
					spill = append(spill, h-(mihPostCellCap+1), word)
				}
			}
			spillEnds[k] = len(spill)
		}
		// Overflow runs: the first and last line of each (runs are short,
		// a few postings; the hardware follows a long one), prefetched all
		// at once: there are a few hundred.
		addrs = addrs[:0]
		for k := 1; k < len(t.slots); k++ {
			ov := t.slots[k].pcells.ov
			for i := spillEnds[k-1]; i < spillEnds[k]; i += 2 {
				start := spill[i]
				addrs = append(addrs, uintptr(unsafe.Pointer(&ov[start])), uintptr(unsafe.Pointer(&ov[start+ov[start]])))
			}
		}
		mihPrefetch(addrs)
		for k := 1; k < len(t.slots); k++ {
			cands = mihScanRuns(cands, t.slots[k].pcells.ov, spill[spillEnds[k-1]:spillEnds[k]], &filters[k])
		}
	}
	// Verify, after prefetching every candidate's line for the same reason
	// as above: a candidate is a pair, both of whose codes are verified. A
	// code found in several slots (or beside one) is verified and appended
	// once each time; search sorts the hits and drops the repeats.
	codes := t.codes
	switch {
	case len(cands) == 0:
	case t.pairShift == 1 && mihUseAVX512 && uintptr(unsafe.Pointer(&codes[0]))%64 == 0:
		// The assembly prefetches one line a candidate, mihAhead ahead, and
		// reads a pair's line whole, the half past an odd table's last code
		// too: that stays within the line, so it never faults, and the
		// assembly writes no hit for it. Built and loaded tables are
		// line-aligned.
		hits = slices.Grow(hits, 2*len(cands))
		out := hits[len(hits):cap(hits)]
		nh := mihVerifyPairsAVX512(&codes[0], &cands[0], len(cands), mihAhead, (*[4]uint64)(q[:4]), r, &out[0], t.n)
		hits = hits[:len(hits)+nh]
	case t.pairShift == 0 && (mihUseAVX512 || mihUseAVX2):
		// The assembly prefetches one code a candidate, mihAhead ahead.
		hits = slices.Grow(hits, len(cands))
		out := hits[len(hits):cap(hits)]
		nh := mihVerify4(&codes[0], &cands[0], len(cands), mihAhead, (*[4]uint64)(q[:4]), r, &out[0])
		hits = hits[:len(hits)+nh]
	default:
		ps := t.pairShift
		addrs = addrs[:0]
		for _, p := range cands {
			addrs = append(addrs, uintptr(unsafe.Pointer(&codes[int(p<<ps)*4])))
		}
		mihPrefetch(addrs[:min(len(addrs), mihAhead)])
		q0, q1, q2, q3 := q[0], q[1], q[2], q[3]
		for i, p := range cands {
			if i%mihChunk == 0 {
				if lo := i + mihAhead; lo < len(addrs) {
					mihPrefetch(addrs[lo:min(len(addrs), lo+mihChunk)])
				}
			}
			for pos := p << ps; pos < min((p+1)<<ps, uint32(t.n)); pos++ {
				c := codes[int(pos)*4 : int(pos)*4+4 : int(pos)*4+4]
				d := bits.OnesCount64(c[0]^q0) + bits.OnesCount64(c[1]^q1) +
					bits.OnesCount64(c[2]^q2) + bits.OnesCount64(c[3]^q3)
				if d <= r {
					hits = append(hits, idxHit{pos: pos, dist: int32(d)})
				}
			}
		}
	}
	sc.cands, sc.addrs, sc.xs, sc.spill = cands, addrs, xs, spill
	// The tables must outlive the prefetches of their addresses.
	runtime.KeepAlive(t)
	return hits
}

// mihScanRuns appends to cands the postings of the overflow runs listed in
// spill, (start, run word) pairs into ov, that pass f.
func mihScanRuns(cands, ov, spill []uint32, f *mihFilter) []uint32 {
	for i := 0; i+1 < len(spill); i += 2 {
		start := spill[i]
		cands = f.pass(cands, ov[start+1:start+1+ov[start]], spill[i+1])
	}
	return cands
}

// mihFilter is what a slot's postings are tested against; the assembly
// reads its fields by offset.
//
// Beside each cell line's address, xs holds its word: the distance its
// postings are allowed in the low 8 bits, x above, the query's block XOR
// the line's codeword (index_tile.go). A spilling line's overflow run gets
// the same word.
//
// A posting is pair | low field << pairBits | chain << (pairBits + low
// bits), where the pair p stands for the entries at positions 2p and 2p+1,
// one line of codes, both verified (idxTable.pairBits; with AVX2, which
// tests no chain, p is one position). The low field is plain low << lt | e
// (index_tile.go), its distance to the query's substring d = popcount(plain
// low ^ the query's) + T[e]; a posting within d <= distance passes. The chain, where there is one, is
// the top bits of the next slot's substring (slot 0's after the last):
// by the pigeonring principle (Qin et al., VLDB 2018), a code within r of
// the query has a slot k from which every run of slots k, k+1, ... is
// within the sum of its radii plus one less than its length; in particular
// d_k <= r_k and d_k + d_k+1 <= r_k + r_k+1 + 1. So a posting passes only
// if, also, d + popcount(chain ^ the query's) <= distance + c2, where c2 =
// r_k+1 + 1. Measured at 10M PDQ codes: about 320 of 2,100 candidates a
// query failed it with postings of positions; with pairs, whose bit
// saved goes to the chain, a query has 1,930 candidates instead of 2,400.
type mihFilter struct {
	q        uint32 // the query's plain low bits | its chain bits << plain
	pairBits uint32 // bits of a posting that hold the entries' pair
	lt       uint32 // tile bits below the plain low bits in a low field
	plain    uint32 // plain low bits above them
	c2       uint32 // the next slot's radius + 1; past 255 when no chain
}

// pass appends to cands the pairs of the postings whose distance in
// the slot, over the plain low bits and the tile's block, is within the
// run word's distance.
func (f *mihFilter) pass(cands, postings []uint32, word uint32) []uint32 {
	rem, x := int(word&255), word>>8
	rem2 := rem + int(f.c2)
	idMask := uint32(1)<<f.pairBits - 1
	eMask := uint32(1)<<f.lt - 1
	plainMask := uint32(1)<<f.plain - 1
	cands = slices.Grow(cands, len(postings))
	nc := len(cands)
	buf := cands[:nc+len(postings)]
	// Branch-free: whether a posting passes is a coin toss the branch
	// predictor would lose.
	for _, v := range postings {
		low := v >> f.pairBits
		unit := uint32(1) << (low & eMask) >> 1
		above := low>>f.lt ^ f.q
		d := bits.OnesCount32(above&plainMask) + bits.OnesCount32(x^unit)
		buf[nc] = v & idMask
		nc += mihB2I(d <= rem && d+bits.OnesCount32(above&^plainMask) <= rem2)
	}
	return buf[:nc]
}

func mihB2I(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mihLayout cuts a bits-wide code into m slots (mihWidths) and gives each
// its coarse width for n entries.
func mihLayout(nbits, m, n int, idBits uint) []mihSlot {
	if m == 0 {
		return nil
	}
	slots := make([]mihSlot, m)
	start := 0
	widths := mihWidths(nbits, m, n)
	for k := range slots {
		w := widths[k]
		target := mihPostCellTarget
		switch {
		case nbits == 64:
			target = mihCellTarget
		case k == 0:
			target = mihBucketTarget0
		}
		c := int(math.Round(math.Log2(float64(n) / target)))
		if k > 0 && nbits > 64 {
			c = min(c, bits.Len(uint(mihMaxBuckets(n, w, idBits)))-1)
		}
		slots[k] = mihSlot{start: start, width: w, coarse: mihClampCoarse(c, w, idBits)}
		start += w
	}
	if nbits == 64 {
		return slots
	}
	// Posting cells cost 64 bytes a bucket whether full or not: past
	// mihPostCellBudget, estimated here for uniform codes, the slots with the
	// most buckets lose a coarse bit each, the last first, as
	// mihFitPostCells does on the codes themselves at build time.
	budget := mihPostCellBudget * float64(n)
	for m >= 2 {
		bytes := 0.0
		for k := 1; k < m; k++ {
			nb := math.Exp2(float64(slots[k].coarse))
			bytes += nb * (64 + 4*mihPoissonSpill(float64(n)/nb))
		}
		if bytes <= budget {
			break
		}
		widest := mihWidestCellSlot(slots)
		c := mihClampCoarse(slots[widest].coarse-1, slots[widest].width, idBits)
		if c == slots[widest].coarse {
			break
		}
		slots[widest].coarse = c
	}
	return slots
}

// mihWidths cuts a bits-wide code into m substrings. One-word codes are
// cut evenly. Wider codes give slot 0 and the last slot no more bits than
// their keys: a slot-0 bucket is read whole, so bits past its key filter
// nothing, and the last slot, searched at radius 1 by the plans, yields a
// few candidates even with none; the other slots share the rest evenly,
// and each bit more halves the candidates their postings' low bits let
// through. At 10M PDQ codes: 22, 24 x 7, 23 x 2 and 20 bits instead of
// 24 x 3 and 23 x 8, some 2,100 candidates a query at r=31 instead of
// 2,700 (in-process median 25.7 -> 23.5 us random, 30.4 -> 28.3 us
// clustered).
func mihWidths(nbits, m, n int) []int {
	widths := make([]int, m)
	rest, from, to := nbits, 0, m
	if nbits > 64 && m > 2 {
		// Keys as mihLayout gives them, and no slot past 32 bits.
		w0 := int(math.Round(math.Log2(float64(n) / mihBucketTarget0)))
		wl := int(math.Round(math.Log2(float64(n) / mihPostCellTarget)))
		floor := nbits - 32*(m-1)
		w0 = min(32, max(w0, floor, 1))
		wl = min(32, max(wl, nbits-w0-32*(m-2), 1))
		widths[0], widths[m-1] = w0, wl
		rest, from, to = nbits-w0-wl, 1, m-1
	}
	for k := from; k < to; k++ {
		widths[k] = rest / (to - from)
		if k-from < rest%(to-from) {
			widths[k]++
		}
	}
	return widths
}

// mihWidestCellSlot is the posting-cell slot (any after the first) with the
// most coarse bits, the last of equals: the one a memory budget takes a bit
// from first.
func mihWidestCellSlot(slots []mihSlot) int {
	widest := 1
	for k := 2; k < len(slots); k++ {
		if slots[k].coarse >= slots[widest].coarse {
			widest = k
		}
	}
	return widest
}

// mihPoissonSpill is the expected overflow run, length word included, of a
// posting-cell bucket that holds Poisson(mean) postings.
func mihPoissonSpill(mean float64) float64 {
	return mihPoissonOverflow(mean, func(over int) float64 { return float64(1 + over) })
}

// mihClampCoarse keeps a slot's coarse bits within its width and leaves no
// more low bits than fit beside the position in one uint32 posting.
func mihClampCoarse(c, w int, idBits uint) int {
	c = max(1, min(c, w))
	return max(c, w-(32-int(idBits)))
}

// mihMaxBuckets bounds the buckets of a posting-cell slot of a table of n
// entries, for the loader to refuse a forged layout before allocating its
// cells: n/2 (the layouts here aim at 9 a bucket), at least 4096, or what
// the low bits beside a position force (wide slots of small tables).
func mihMaxBuckets(n, w int, idBits uint) int {
	most := max(n/2, 1<<12)
	if c := w - (32 - int(idBits)); c > 0 && c < 31 {
		most = max(most, 1<<uint(c))
	}
	return most
}

// mihBinom is the binomial coefficient as a float, exact enough for costs.
func mihBinom(n, k int) float64 {
	if k < 0 || k > n {
		return 0
	}
	k = min(k, n-k)
	v := 1.0
	for i := 1; i <= k; i++ {
		v = v * float64(n-k+i) / float64(i)
	}
	return v
}

// mihSlotCosts returns the modelled cost of searching slot s at radius
// rk = -1 .. s.width (index rk+1) over n uniformly spread entries; inPlace
// when the slot's buckets hold the codes themselves (one-word tables).
func mihSlotCosts(s mihSlot, n int, slot0, inPlace bool) []float64 {
	low := s.width - s.coarse
	perBucket := float64(n) / math.Exp2(float64(s.coarse))
	// lowBall[d]: fraction of low-bit patterns within distance d.
	lowBall := make([]float64, low+1)
	acc := 0.0
	for d := 0; d <= low; d++ {
		acc += mihBinom(low, d)
		lowBall[d] = acc / math.Exp2(float64(low))
	}
	// Expected lines past the first a posting-cell bucket spills into.
	spill := 0.0
	if !inPlace && !slot0 {
		spill = mihSpillLines(perBucket)
	}
	costs := make([]float64, s.width+2)
	for rk := 0; rk <= s.width; rk++ {
		var probes, verify float64
		for j := 0; j <= rk && j <= s.coarse; j++ {
			b := mihBinom(s.coarse, j)
			probes += b
			verify += b * perBucket * lowBall[min(rk-j, low)]
		}
		if !inPlace && !slot0 {
			probes = mihCellProbeCount(s.width, s.coarse, rk)
		}
		scanned := probes * perBucket
		switch {
		case inPlace:
			costs[rk+1] = probes*mihCostProbe + scanned*mihCostInPlace
		case slot0:
			costs[rk+1] = probes*mihCostProbe + scanned*mihCostScan0
		default:
			costs[rk+1] = probes*(1+spill)*mihCostProbe + scanned*mihCostScan + verify*mihCostVerify
		}
	}
	return costs
}

// mihCellProbeCount is the number of cell lines a search of a posting-cell
// slot at radius rk reads, on average over query blocks for tiled cells
// (index_tile.go).
func mihCellProbeCount(width, coarse, rk int) float64 {
	lt := mihTileBits(width, coarse)
	tile := mihTileFor(lt)
	if tile == nil {
		probes := 0.0
		for j := 0; j <= rk && j <= coarse; j++ {
			probes += mihBinom(coarse, j)
		}
		return probes
	}
	// How many codewords lie at each distance d from the query's block's
	// tile, over all blocks; each has the cells of coarse-plain keys within
	// rk-d.
	var cells [1 << mihTileMax]float64
	for _, ws := range tile.near {
		for _, w := range ws {
			cells[max(int(w.d)-1, 0)]++
		}
	}
	cp := coarse - tile.k
	probes := 0.0
	for d := 0; d <= rk && d < len(cells); d++ {
		keys := 0.0
		for j := 0; j <= rk-d && j <= cp; j++ {
			keys += mihBinom(cp, j)
		}
		probes += cells[d] * keys
	}
	return probes / float64(len(tile.near))
}

// mihSpillLines is the expected number of overflow lines a posting-cell
// bucket reads when buckets hold Poisson(mean) postings: the postings past
// mihPostCellCap plus the run's length word, 16 to a line, rounded up.
func mihSpillLines(mean float64) float64 {
	return mihPoissonOverflow(mean, func(over int) float64 { return math.Ceil(float64(over+1) / 16) })
}

// mihPoissonOverflow is the expectation of f(X - mihPostCellCap) over the
// buckets that overflow, X ~ Poisson(mean).
func mihPoissonOverflow(mean float64, f func(over int) float64) float64 {
	p := math.Exp(-mean) // P(X = 0)
	sum := 0.0
	for x := 1; x < 40*int(mean+1); x++ {
		p *= mean / float64(x)
		if x > mihPostCellCap {
			sum += p * f(x-mihPostCellCap)
		}
	}
	return sum
}

// mihLinearCost is the modelled cost of a linear scan.
func mihLinearCost(n, words int) float64 {
	return float64(n) * float64(words) * mihCostWord
}

// mihPlanFor splits r+1 units of radius over the slots greedily, each unit to
// the slot where it adds the least cost, and returns the plan with its cost.
// The plan is linear when the slots cannot cover r or cost more than a scan.
func mihPlanFor(slotCosts [][]float64, widths []int, r int, linearCost float64, force bool) (mihPlan, float64) {
	m := len(slotCosts)
	if m == 0 || r < 0 {
		return mihPlan{linear: true}, linearCost
	}
	units := r + 1
	capacity := 0
	for _, w := range widths {
		capacity += w + 1
	}
	if units > capacity {
		return mihPlan{linear: true}, linearCost
	}
	radii := make([]int8, m)
	for k := range radii {
		radii[k] = -1
	}
	total := 0.0
	for range units {
		best, bestAdd := -1, math.Inf(1)
		for k := range m {
			rk := int(radii[k])
			if rk >= widths[k] {
				continue
			}
			if add := slotCosts[k][rk+2] - slotCosts[k][rk+1]; add < bestAdd {
				best, bestAdd = k, add
			}
		}
		radii[best]++
		total += bestAdd
	}
	if !force && total >= linearCost {
		return mihPlan{linear: true}, linearCost
	}
	return mihPlan{radii: radii}, total
}

// mihPlans computes the plan for every radius 0 .. bits of table t.
func mihPlans(t *idxTable, force bool) []mihPlan {
	nbits := t.algo.Bits()
	plans := make([]mihPlan, nbits+1)
	costs, widths := mihCostTables(t.slots, t.n, t.words)
	lin := mihLinearCost(t.n, t.words)
	for r := range plans {
		plans[r], _ = mihPlanFor(costs, widths, r, lin, force)
	}
	return plans
}

func mihCostTables(slots []mihSlot, n, words int) ([][]float64, []int) {
	costs := make([][]float64, len(slots))
	widths := make([]int, len(slots))
	for k, s := range slots {
		costs[k] = mihSlotCosts(s, n, k == 0, words == 1)
		widths[k] = s.width
	}
	return costs, widths
}

// mihChooseSlots picks the number of slots for a table of n codes: the one
// with the least modelled cost at the algorithm's default radius, or none
// when a scan is cheaper. Each slot after the first costs a cell line a
// bucket (for PDQ some 7 bytes an entry, capped with the other slots' by
// mihPostCellBudget), so from mihBigTable entries on at most 12 slots are
// used for PDQ, which keeps 10 million codes under 1 GiB.
func mihChooseSlots(a Algorithm, n int, idBits uint) int {
	if n < mihMinEntries {
		return 0
	}
	nbits := a.Bits()
	lo, hi := (nbits+31)/32, mihMaxSlots
	if n >= mihBigTable {
		hi = 12
	}
	if a == PHash {
		hi = 4
	}
	words := nbits / 64
	lin := mihLinearCost(n, words)
	best, bestCost := 0, lin
	for m := lo; m <= hi; m++ {
		slots := mihLayout(nbits, m, n, idBits)
		costs, widths := mihCostTables(slots, n, words)
		plan, cost := mihPlanFor(costs, widths, a.DefaultMaxDistance(), lin, false)
		// Each extra slot costs 4 bytes an entry: demand a real gain for it.
		if !plan.linear && cost < bestCost*0.9 {
			best, bestCost = m, cost
		}
	}
	return best
}
