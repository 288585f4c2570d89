package detector

import (
	"math"
	"math/bits"
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

// mihMaxSlots bounds m; with substrings of at most 32 bits, 256-bit codes
// need at least 8 and no layout here uses more than 16.
const mihMaxSlots = 16

// mihMinEntries is the table size under which a linear scan always wins and
// no slot tables are built.
const mihMinEntries = 2048

// mihBucketTarget is the average number of postings per coarse bucket the
// layout aims at: fewer means more, emptier probes, more means longer scans.
const mihBucketTarget = 8

// Cost model, in rough nanoseconds on one core, used to pick the layout at
// build time and, per query radius, the per-slot radii or the linear scan.
// It assumes uniformly spread codes; clustered lists only make MIH find more
// true matches, which any method must return.
const (
	mihCostProbe  = 6.0  // one offsets lookup, usually a cache miss
	mihCostScan   = 0.8  // one posting read and low-bit test
	mihCostScan0  = 2.0  // one slot-0 code, contiguous, full distance
	mihCostVerify = 10.0 // one random code fetch and full distance
	mihCostWord   = 0.35 // one word of the linear scan
)

type mihSlot struct {
	start, width int // bit range within the code, from its most significant bit
	coarse       int // high bits of the substring that address offsets
	// offsets[key] .. offsets[key+1] bound the bucket of coarse key.
	offsets []uint32
	// postings holds position | lowbits<<idBits per entry, bucket by bucket;
	// nil for slot 0, whose buckets are position ranges of the table.
	postings []uint32
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

// mih runs the multi-index search with the given per-slot radii.
func (t *idxTable) mih(q *Code, r int, radii []int8, hits []idxHit) []idxHit {
	qw := q[:t.words]
	var qsub [mihMaxSlots]uint32
	for k := range t.slots {
		qsub[k] = mihSub(qw, t.slots[k].start, t.slots[k].width)
	}
	for k := range t.slots {
		rk := int(radii[k])
		if rk < 0 {
			continue
		}
		s := &t.slots[k]
		low := uint(s.width - s.coarse)
		qc := uint64(qsub[k] >> low)
		ql := qsub[k] & (1<<low - 1)
		lim := uint64(1) << uint(s.coarse)
		for j := 0; j <= rk && j <= s.coarse; j++ {
			rem := rk - j
			if j == 0 {
				hits = t.mihBucket(q, r, radii, &qsub, k, qc, ql, rem, hits)
				continue
			}
			// Gosper's hack: every coarse-bit mask with exactly j bits set.
			for m := uint64(1)<<uint(j) - 1; m < lim; {
				hits = t.mihBucket(q, r, radii, &qsub, k, qc^m, ql, rem, hits)
				u := m & -m
				v := m + u
				m = v + ((v^m)/u)>>2
			}
		}
	}
	return hits
}

// mihBucket scans one coarse bucket of slot k.
func (t *idxTable) mihBucket(q *Code, r int, radii []int8, qsub *[mihMaxSlots]uint32, k int, key uint64, ql uint32, rem int, hits []idxHit) []idxHit {
	s := &t.slots[k]
	lo, hi := s.offsets[key], s.offsets[key+1]
	if k == 0 {
		for pos := lo; pos < hi; pos++ {
			if d := t.distAt(q, pos); d <= r && t.mihFirst(qsub, radii, pos, k) {
				hits = append(hits, idxHit{pos: pos, dist: int32(d)})
			}
		}
		return hits
	}
	idBits := t.idBits
	idMask := uint32(1)<<idBits - 1
	for _, p := range s.postings[lo:hi] {
		if bits.OnesCount32((p>>idBits)^ql) > rem {
			continue
		}
		pos := p & idMask
		if d := t.distAt(q, pos); d <= r && t.mihFirst(qsub, radii, pos, k) {
			hits = append(hits, idxHit{pos: pos, dist: int32(d)})
		}
	}
	return hits
}

// mihFirst reports whether slot k is the first slot whose ball holds the
// code at pos, so that a match found in several slots is reported once,
// without a per-query seen-set.
func (t *idxTable) mihFirst(qsub *[mihMaxSlots]uint32, radii []int8, pos uint32, k int) bool {
	c := t.codes[int(pos)*t.words : int(pos+1)*t.words]
	for j := 0; j <= k; j++ {
		if radii[j] < 0 {
			continue
		}
		s := &t.slots[j]
		if bits.OnesCount32(mihSub(c, s.start, s.width)^qsub[j]) <= int(radii[j]) {
			return j == k
		}
	}
	return false
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
		c := int(math.Round(math.Log2(float64(n) / mihBucketTarget)))
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
// rk = -1 .. s.width (index rk+1) over n uniformly spread entries.
func mihSlotCosts(s mihSlot, n int, slot0 bool) []float64 {
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
		if slot0 {
			costs[rk+1] = probes*mihCostProbe + scanned*mihCostScan0
		} else {
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
	costs, widths := mihCostTables(t.slots, t.n)
	lin := mihLinearCost(t.n, t.words)
	for r := range plans {
		plans[r], _ = mihPlanFor(costs, widths, r, lin, force)
	}
	return plans
}

func mihCostTables(slots []mihSlot, n int) ([][]float64, []int) {
	costs := make([][]float64, len(slots))
	widths := make([]int, len(slots))
	for k, s := range slots {
		costs[k] = mihSlotCosts(s, n, k == 0)
		widths[k] = s.width
	}
	return costs, widths
}

// mihChooseSlots picks the number of slots for a table of n codes: the one
// with the least modelled cost at the algorithm's default radius, within a
// memory cap of at most 12 slots (11 posting lists, 44 bytes an entry) for
// PDQ, or none when a scan is cheaper.
func mihChooseSlots(a Algorithm, n int, idBits uint) int {
	if n < mihMinEntries {
		return 0
	}
	nbits := a.Bits()
	lo, hi := (nbits+31)/32, 12
	if a == PHash {
		hi = 4
	}
	words := nbits / 64
	lin := mihLinearCost(n, words)
	best, bestCost := 0, lin
	for m := lo; m <= hi; m++ {
		slots := mihLayout(nbits, m, n, idBits)
		costs, widths := mihCostTables(slots, n)
		plan, cost := mihPlanFor(costs, widths, a.DefaultMaxDistance(), lin, false)
		// Each extra slot costs 4 bytes an entry: demand a real gain for it.
		if !plan.linear && cost < bestCost*0.9 {
			best, bestCost = m, cost
		}
	}
	return best
}
