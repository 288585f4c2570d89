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
// A slot's table is addressed by the top `coarse` bits of its substring; the
// remaining low bits sit beside the entry position in the posting, so a
// probe reads one short contiguous run and tests the low bits before
// touching the code. Entries are stored in the order of their slot-0
// substring, so slot 0 needs no posting list at all.
//
// One-word codes (pHash) are searched through cells instead: see
// index_cells.go.

// mihMaxSlots bounds m; with substrings of at most 32 bits, 256-bit codes
// need at least 8 and no layout here uses more than 16.
const mihMaxSlots = 16

// mihBigTable is the table size from which memory, not speed, caps the
// number of slots.
const mihBigTable = 4_000_000

// mihMinEntries is the table size under which a linear scan always wins and
// no slot tables are built.
const mihMinEntries = 2048

// mihBucketTarget is the average number of postings per coarse bucket the
// layout aims at: fewer means more, emptier probes and bigger offset tables,
// more means longer scans. Measured at 10M PDQ codes, 2 to 8 are within 15%
// of each other; 16 and up lose badly.
const mihBucketTarget = 4

// mihBucketTarget0 is the same for slot 0, whose buckets are runs of codes
// with no low-bit filter, so smaller buckets pay off more.
const mihBucketTarget0 = 2

// Cost model, in rough nanoseconds on one core, used to pick the layout at
// build time and, per query radius, the per-slot radii or the linear scan.
// It assumes uniformly spread codes; clustered lists only make MIH find more
// true matches, which any method must return.
const (
	mihCostProbe   = 35.0 // one offsets lookup, usually a cache miss
	mihCostScan    = 1.0  // one posting read and low-bit test
	mihCostScan0   = 4.0  // one slot-0 code, contiguous, full distance
	mihCostVerify  = 12.0 // one random code fetch and full distance
	mihCostInPlace = 2.0  // one one-word code in a cell line, full distance
	mihCostWord    = 0.45 // one word of the linear scan
)

type mihSlot struct {
	start, width int // bit range within the code, from its most significant bit
	coarse       int // high bits of the substring that address offsets
	// offsets[key] .. offsets[key+1] bound the bucket of coarse key.
	offsets []uint32
	// postings holds position | lowbits<<idBits per entry, bucket by bucket;
	// nil for slot 0, whose buckets are position ranges of the table.
	postings []uint32
	// cells holds a one-word table's buckets as cache lines; nil for wider
	// codes.
	cells *mihCells
	// masks[j] lists the coarse-key masks with j bits set, for the radii
	// queries use; larger radii enumerate them on the fly.
	masks [][]uint32
}

// Software pipelining of the prefetches: how far ahead, in buckets or
// candidates, and in chunks of how many. Measured at 10M PDQ codes: 32 to
// 256 ahead are alike and some 5-8% faster than prefetching all at once.
const (
	mihAhead = 64
	mihChunk = 16
)

// mihMaskRadius is the largest radius whose masks are listed in advance.
const mihMaskRadius = 3

// mihPrepare fills in what a table derives from its layout: masks, plans.
func (t *idxTable) mihPrepare(force bool) {
	byCoarse := make(map[int][][]uint32)
	for k := range t.slots {
		c := t.slots[k].coarse
		if _, ok := byCoarse[c]; !ok {
			byCoarse[c] = mihMasks(c, min(mihMaskRadius, c))
		}
		t.slots[k].masks = byCoarse[c]
	}
	t.plans = mihPlans(t, force)
}

// mihMasks lists, for j = 0..maxJ, the c-bit masks with exactly j bits set.
func mihMasks(c, maxJ int) [][]uint32 {
	out := make([][]uint32, maxJ+1)
	out[0] = []uint32{0}
	lim := uint64(1) << uint(c)
	for j := 1; j <= maxJ; j++ {
		for m := uint64(1)<<uint(j) - 1; m < lim; {
			out[j] = append(out[j], uint32(m))
			u := m & -m
			v := m + u
			m = v + ((v^m)/u)>>2
		}
	}
	return out
}

// mihPlan is how a query of one radius runs.
type mihPlan struct {
	linear bool
	radii  []int8 // per slot; -1 means the slot is not searched
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
	probes []mihProbe
	cands  []uint32
	addrs  []uintptr // lines to prefetch
	spill  []uint32  // overflow runs of one-word tables
}

// mihProbe is one coarse bucket to read: slot, key, then its bounds.
type mihProbe struct {
	slot   uint8
	rem    uint8 // low-bit distance still allowed
	ql     uint32
	lo, hi uint32
}

// mih runs the multi-index search with the given per-slot radii.
//
// A query at 10 million entries touches thousands of buckets and codes at
// random, each a likely cache and TLB miss. Done one bucket at a time, every
// miss waits for the one before it (offsets, then postings, then code). So the
// search runs in phases over flat arrays: list every bucket with its bounds,
// prefetch the postings, gather candidates from them, prefetch the codes,
// verify. Within a phase the loads do not depend on each other and the CPU
// overlaps them; this took the median at 10M PDQ codes, r=31, from about
// 560 us (bucket by bucket) to about 110 us.
// One-word tables go through mihCellSearch instead.
func (t *idxTable) mih(q *Code, r int, radii []int8, hits []idxHit, sc *mihScratch) []idxHit {
	if t.words == 1 {
		return t.mihCellSearch(q[0], r, radii, hits, sc)
	}
	qw := q[:t.words]
	probes := sc.probes[:0]
	for k := range t.slots {
		rk := int(radii[k])
		if rk < 0 {
			continue
		}
		s := &t.slots[k]
		sub := mihSub(qw, s.start, s.width)
		low := uint(s.width - s.coarse)
		qc := uint64(sub >> low)
		ql := sub & (1<<low - 1)
		off := s.offsets
		for j := 0; j <= rk && j <= s.coarse; j++ {
			p := mihProbe{slot: uint8(k), rem: uint8(min(rk-j, 255)), ql: ql}
			// Bounds are loaded as the buckets are listed: the loads do not
			// depend on each other and nothing branches on them, so the
			// misses overlap without a prefetch.
			if j < len(s.masks) {
				for _, m := range s.masks[j] {
					key := uint32(qc) ^ m
					p.lo, p.hi = off[key], off[key+1]
					probes = append(probes, p)
				}
				continue
			}
			// Gosper's hack: every coarse-bit mask with exactly j bits set.
			lim := uint64(1) << uint(s.coarse)
			for m := uint64(1)<<uint(j) - 1; m < lim; {
				key := qc ^ m
				p.lo, p.hi = off[key], off[key+1]
				probes = append(probes, p)
				u := m & -m
				v := m + u
				m = v + ((v^m)/u)>>2
			}
		}
	}
	// Prefetch the first and last posting of every bucket (the first codes
	// of a slot-0 bucket) so that the lines are in cache before the scan,
	// whose loop exits mispredict and would otherwise keep the misses from
	// overlapping. Two addresses a bucket, valid even for an empty one, so
	// that bucket i's are at 2i.
	addrs := sc.addrs[:0]
	for i := range probes {
		p := &probes[i]
		var a, b uintptr
		switch {
		case p.slot == 0:
			a = uintptr(unsafe.Pointer(&t.codes[int(min(p.lo, uint32(t.n-1)))*t.words]))
			b = a
		default:
			ps := t.slots[p.slot].postings
			a = uintptr(unsafe.Pointer(&ps[min(p.lo, uint32(t.n-1))]))
			b = uintptr(unsafe.Pointer(&ps[max(p.hi, 1)-1]))
		}
		addrs = append(addrs, a, b)
	}
	// Prefetching runs mihAhead buckets ahead of the scan, a chunk at a
	// time: a burst of thousands would overflow the miss buffers.
	mihPrefetch(addrs[:min(len(addrs), 2*mihAhead)])
	// Candidates: slot 0's buckets are position ranges; the others' postings
	// are filtered on their low bits before any code is read.
	cands := sc.cands[:0]
	idBits := t.idBits
	idMask := uint32(1)<<idBits - 1
	for i := range probes {
		if i%mihChunk == 0 {
			if lo := 2 * (i + mihAhead); lo < len(addrs) {
				mihPrefetch(addrs[lo:min(len(addrs), lo+2*mihChunk)])
			}
		}
		p := &probes[i]
		if p.slot == 0 {
			for pos := p.lo; pos < p.hi; pos++ {
				cands = append(cands, pos)
			}
			continue
		}
		// Branch-free: whether a posting passes is a coin toss the branch
		// predictor would lose.
		ps := t.slots[p.slot].postings[p.lo:p.hi]
		cands = slices.Grow(cands, len(ps))
		nc := len(cands)
		buf := cands[:nc+len(ps)]
		rem := int(p.rem)
		for _, v := range ps {
			buf[nc] = v & idMask
			nc += mihB2I(bits.OnesCount32((v>>idBits)^p.ql) <= rem)
		}
		cands = buf[:nc]
	}
	// Verify, after prefetching every candidate's code for the same reason
	// as above. A code found in several slots is verified and appended once per
	// slot; search sorts the hits and drops the repeats.
	switch t.words {
	case 4:
		codes := t.codes
		addrs = addrs[:0]
		for _, pos := range cands {
			addrs = append(addrs, uintptr(unsafe.Pointer(&codes[int(pos)*4])))
		}
		mihPrefetch(addrs[:min(len(addrs), mihAhead)])
		q0, q1, q2, q3 := q[0], q[1], q[2], q[3]
		for i, pos := range cands {
			if i%mihChunk == 0 {
				if lo := i + mihAhead; lo < len(addrs) {
					mihPrefetch(addrs[lo:min(len(addrs), lo+mihChunk)])
				}
			}
			c := codes[int(pos)*4 : int(pos)*4+4 : int(pos)*4+4]
			d := bits.OnesCount64(c[0]^q0) + bits.OnesCount64(c[1]^q1) +
				bits.OnesCount64(c[2]^q2) + bits.OnesCount64(c[3]^q3)
			if d <= r {
				hits = append(hits, idxHit{pos: pos, dist: int32(d)})
			}
		}
	default:
		codes := t.codes
		addrs = addrs[:0]
		for _, pos := range cands {
			addrs = append(addrs, uintptr(unsafe.Pointer(&codes[pos])))
		}
		mihPrefetch(addrs[:min(len(addrs), mihAhead)])
		q0 := q[0]
		for i, pos := range cands {
			if i%mihChunk == 0 {
				if lo := i + mihAhead; lo < len(addrs) {
					mihPrefetch(addrs[lo:min(len(addrs), lo+mihChunk)])
				}
			}
			if d := bits.OnesCount64(codes[pos] ^ q0); d <= r {
				hits = append(hits, idxHit{pos: pos, dist: int32(d)})
			}
		}
	}
	sc.probes, sc.cands, sc.addrs = probes, cands, addrs
	// The tables must outlive the prefetches of their addresses.
	runtime.KeepAlive(t)
	return hits
}

func mihB2I(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mihLayout cuts a bits-wide code into m slots as even as possible and gives
// each its coarse width for n entries.
func mihLayout(nbits, m, n int, idBits uint) []mihSlot {
	if m == 0 {
		return nil
	}
	slots := make([]mihSlot, m)
	start := 0
	for k := range slots {
		w := nbits / m
		if k < nbits%m {
			w++
		}
		target := float64(mihBucketTarget)
		switch {
		case nbits == 64:
			target = mihCellTarget
		case k == 0:
			target = mihBucketTarget0
		}
		c := int(math.Round(math.Log2(float64(n) / target)))
		c = max(1, min(c, w))
		// The low bits must fit beside the position in one uint32 posting.
		c = max(c, w-(32-int(idBits)))
		slots[k] = mihSlot{start: start, width: w, coarse: c}
		start += w
	}
	return slots
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
	costs := make([]float64, s.width+2)
	for rk := 0; rk <= s.width; rk++ {
		var probes, verify float64
		for j := 0; j <= rk && j <= s.coarse; j++ {
			b := mihBinom(s.coarse, j)
			probes += b
			verify += b * perBucket * lowBall[min(rk-j, low)]
		}
		scanned := probes * perBucket
		switch {
		case inPlace:
			costs[rk+1] = probes*mihCostProbe + scanned*mihCostInPlace
		case slot0:
			costs[rk+1] = probes*mihCostProbe + scanned*mihCostScan0
		default:
			costs[rk+1] = probes*mihCostProbe + scanned*mihCostScan + verify*mihCostVerify
		}
	}
	return costs
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
// when a scan is cheaper. Each slot after the first costs a 4-byte posting
// per entry (and an 8-byte code copy for pHash), so from mihBigTable entries
// on at most 12 slots are used for PDQ, which keeps 10 million codes under
// 1 GiB.
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
