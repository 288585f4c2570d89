package detector

import (
	"cmp"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"unsafe"
)

// Entry is one membership of a hash in a hash list. A hash listed in several
// lists has one entry per list.
type Entry struct {
	Hash   Hash
	List   string // the list's name, usually its file name
	ID     string // the entry's id within the list
	Label  string // label or category given by the list
	Source string // where the list came from (file path, programme)
	// Time is the entry's timestamp in seconds within a known video (vPDQ
	// lists); zero for still images.
	Time float64
	// Allow marks an allowlist entry: a benign picture (a common overlay, a
	// test card, a black frame) that must never fire. A query within range of
	// an allowlist entry reports no known-material match at all.
	Allow bool
}

// Match is an index entry found within the query distance. Entry is a copy
// made for the caller: the index stores entries in columns, not as structs.
type Match struct {
	Entry    Entry
	Distance int
}

// Result is the full answer for one query hash.
type Result struct {
	Query Hash
	// Matches holds the known-material entries within range, nearest first.
	// It is empty when an allowlist entry suppressed them.
	Matches []Match
	// Allowed holds the allowlist entries within range, nearest first.
	Allowed []Match
	// Suppressed counts the known-material entries that were within range
	// but left out of Matches because Allowed is not empty.
	Suppressed int
}

// Index answers "which known entries lie within distance r of this hash",
// exactly: by multi-index hashing where that beats a scan, by a linear scan
// of the packed codes where it does not, with the same answers either way.
//
// An Index is immutable once built or loaded and safe for concurrent queries,
// so a node can swap a new one in behind an atomic.Pointer while queries on the
// old one finish. It holds no file descriptor or mapping and needs no Close.
type Index struct {
	n       int
	tables  [idxAlgoSlots]*idxTable
	strOff  []uint32 // string k is strBlob[strOff[k]:strOff[k+1]]
	strBlob string
	tags    []idxTag
	idBlob  string // ids that are not small numbers, uvarint length-prefixed
}

// idxAlgoSlots sizes the per-algorithm table array: one past the largest
// Algorithm value.
const idxAlgoSlots = 3

// idxTag is the interned (list, source, label, allow) of an entry: real lists
// have few distinct combinations, so an entry stores one uint32 for all four.
type idxTag struct {
	list, source, label uint32
	flags               uint32
}

const idxTagAllow = 1

// idxNumericID marks an id reference that holds the id's decimal value
// instead of an offset into idBlob: line numbers and numeric ids, the usual
// case, then cost no blob bytes.
const idxNumericID = 1 << 31

// idxTable holds the entries of one algorithm as columns, in the order of
// their slot-0 substring so that slot 0 needs no posting list.
type idxTable struct {
	algo   Algorithm
	words  int // 64-bit words per code
	n      int
	codes  []uint64 // n*words, code i at codes[i*words:]
	tags   idxTags  // per entry, an index into Index.tags
	ids    []uint32
	times  []float64 // nil when every entry's time is zero
	idBits uint      // bits of a slot-0 head that hold an entry position
	// pairShift is 1 when a posting names a pair of entries, 0 when one
	// (pairBits).
	pairShift uint
	slots     []mihSlot
	plans     []mihPlan // by query radius, 0..algo.Bits()
}

// NewIndex builds an index over entries. It does not keep the slice.
func NewIndex(entries []Entry) (*Index, error) {
	var b Builder
	for i := range entries {
		if err := b.Add(entries[i]); err != nil {
			return nil, fmt.Errorf("index: entry %d (%s/%s): %w", i, entries[i].List, entries[i].ID, err)
		}
	}
	return b.Build()
}

// Len is the number of entries, allowlist entries included.
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return x.n
}

// Algorithms lists the algorithms the index holds entries for.
func (x *Index) Algorithms() []Algorithm {
	if x == nil {
		return nil
	}
	var out []Algorithm
	for a, t := range x.tables {
		if t != nil && t.n > 0 {
			out = append(out, Algorithm(a))
		}
	}
	return out
}

// idxHit is a raw match before it is turned into an Entry.
type idxHit struct {
	pos  uint32
	dist int32
}

// idxHitPool holds scratch buffers so that a query that finds nothing, the
// common case on a live stream, allocates nothing.
var idxHitPool = sync.Pool{New: func() any { s := make([]idxHit, 0, 64); return &s }}

var mihScratchPool = sync.Pool{New: func() any { return new(mihScratch) }}

// Query appends to dst every known-material entry of h's algorithm within
// maxDistance of h, nearest first (ties in a fixed order), and returns the
// extended slice. Allowlist entries are never appended; when one lies within
// maxDistance of h, Query appends nothing at all. Use QueryResult to learn
// why nothing was appended.
func (x *Index) Query(h Hash, maxDistance int, dst []Match) []Match {
	t := x.table(h.Algorithm)
	if t == nil {
		return dst
	}
	hp := idxHitPool.Get().(*[]idxHit)
	hits := t.search(&h.Code, maxDistance, (*hp)[:0])
	dst = x.appendMatches(t, hits, dst)
	*hp = hits
	idxHitPool.Put(hp)
	return dst
}

// QueryLinear is Query answered by scanning every code of h's algorithm. It
// is the reference the multi-index is tested against and the baseline
// benchmarks report beside it; Query already scans where that is faster.
func (x *Index) QueryLinear(h Hash, maxDistance int, dst []Match) []Match {
	t := x.table(h.Algorithm)
	if t == nil || maxDistance < 0 {
		return dst
	}
	hp := idxHitPool.Get().(*[]idxHit)
	hits := t.linear(&h.Code, maxDistance, (*hp)[:0])
	slices.SortFunc(hits, idxHitCmp)
	dst = x.appendMatches(t, hits, dst)
	*hp = hits
	idxHitPool.Put(hp)
	return dst
}

// appendMatches appends hits to dst as matches, or nothing when one of them
// is an allowlist entry.
func (x *Index) appendMatches(t *idxTable, hits []idxHit, dst []Match) []Match {
	if len(hits) > 1 {
		// Each hit's tag and id are a miss at a random place; asked for
		// all at once, they arrive together (a near query on a list of
		// near-duplicate families matches several).
		var addrs [2 * 16]uintptr
		n := 0
		for _, hit := range hits[:min(len(hits), 16)] {
			addrs[n] = uintptr(unsafe.Pointer(&t.tags.b[int(hit.pos)*t.tags.width]))
			addrs[n+1] = uintptr(unsafe.Pointer(&t.ids[hit.pos]))
			n += 2
		}
		mihPrefetch(addrs[:n])
		runtime.KeepAlive(t)
	}
	for _, hit := range hits {
		if x.tags[t.tags.at(hit.pos)].flags&idxTagAllow != 0 {
			return dst
		}
	}
	for _, hit := range hits {
		dst = append(dst, Match{Entry: x.entryAt(t, hit.pos), Distance: int(hit.dist)})
	}
	return dst
}

// idxSortHits sorts hits by distance, then position, drops repeats and
// returns how many are left. On little-endian machines a hit's eight bytes
// read as an integer are dist<<32 | pos, the same order, and integers sort
// several times faster than structs through a comparison function (a query
// matching much of a small table, with each match found in several slots,
// spent most of its time there).
func idxSortHits(hits []idxHit) int {
	if !idxLittleEndian {
		slices.SortFunc(hits, idxHitCmp)
		return len(slices.Compact(hits))
	}
	keys := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(hits))), len(hits))
	slices.Sort(keys)
	return len(slices.Compact(keys))
}

func idxHitCmp(a, b idxHit) int {
	if c := cmp.Compare(a.dist, b.dist); c != 0 {
		return c
	}
	return cmp.Compare(a.pos, b.pos)
}

// QueryResult answers one query in full into res, reusing res's slices.
func (x *Index) QueryResult(h Hash, maxDistance int, res *Result) {
	res.Query = h
	res.Matches = res.Matches[:0]
	res.Allowed = res.Allowed[:0]
	res.Suppressed = 0
	t := x.table(h.Algorithm)
	if t == nil {
		return
	}
	hp := idxHitPool.Get().(*[]idxHit)
	hits := t.search(&h.Code, maxDistance, (*hp)[:0])
	for _, hit := range hits {
		m := Match{Entry: x.entryAt(t, hit.pos), Distance: int(hit.dist)}
		if m.Entry.Allow {
			res.Allowed = append(res.Allowed, m)
		} else {
			res.Matches = append(res.Matches, m)
		}
	}
	if len(res.Allowed) > 0 {
		res.Suppressed = len(res.Matches)
		res.Matches = res.Matches[:0]
	}
	*hp = hits
	idxHitPool.Put(hp)
}

// QueryBatch answers many hashes in one call, appending one Result per hash
// to dst in order. Results in dst's spare capacity are reused, slices
// included, so a caller that passes the previous batch's slice back as
// dst[:0] allocates only for new matches.
func (x *Index) QueryBatch(hashes []Hash, maxDistance int, dst []Result) []Result {
	dst = slices.Grow(dst, len(hashes))
	for _, h := range hashes {
		dst = dst[:len(dst)+1]
		x.QueryResult(h, maxDistance, &dst[len(dst)-1])
	}
	return dst
}

func (x *Index) table(a Algorithm) *idxTable {
	if x == nil || int(a) >= len(x.tables) {
		return nil
	}
	return x.tables[a]
}

func (x *Index) str(k uint32) string {
	return x.strBlob[x.strOff[k]:x.strOff[k+1]]
}

func (x *Index) idString(ref uint32) string {
	if ref&idxNumericID != 0 {
		return strconv.FormatUint(uint64(ref&^idxNumericID), 10)
	}
	n, w := idxUvarint(x.idBlob[ref:])
	return x.idBlob[int(ref)+w : int(ref)+w+int(n)]
}

func (x *Index) entryAt(t *idxTable, pos uint32) Entry {
	tg := x.tags[t.tags.at(pos)]
	e := Entry{
		Hash:   Hash{Algorithm: t.algo},
		List:   x.str(tg.list),
		ID:     x.idString(t.ids[pos]),
		Label:  x.str(tg.label),
		Source: x.str(tg.source),
		Allow:  tg.flags&idxTagAllow != 0,
	}
	copy(e.Hash.Code[:], t.codes[int(pos)*t.words:int(pos+1)*t.words])
	if t.times != nil {
		e.Time = t.times[pos]
	}
	return e
}

// idxUvarint decodes a uvarint from a string; the blob was validated on load,
// so a short or overlong varint cannot occur and yields 0.
func idxUvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < 10; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// search appends every entry within r of q to hits, ordered by distance and
// then position, without duplicates.
func (t *idxTable) search(q *Code, r int, hits []idxHit) []idxHit {
	if r < 0 || t.n == 0 {
		return hits
	}
	start := len(hits)
	if r >= len(t.plans) || t.plans[r].linear {
		hits = t.linear(q, r, hits)
	} else {
		sc := mihScratchPool.Get().(*mihScratch)
		hits = t.mih(q, r, t.plans[r].radii, hits, sc)
		mihScratchPool.Put(sc)
	}
	// MIH finds a code once per slot whose ball holds it (and beside it,
	// as its pair's other code); repeats are adjacent after the sort.
	return hits[:start+idxSortHits(hits[start:])]
}

// linear is the scan MIH must agree with, and the fallback when r is large:
// one pass over the flat code array, one XOR and POPCNT per word.
func (t *idxTable) linear(q *Code, r int, hits []idxHit) []idxHit {
	codes := t.codes
	switch t.words {
	case 4:
		q0, q1, q2, q3 := q[0], q[1], q[2], q[3]
		for i := 0; i+4 <= len(codes); i += 4 {
			c := codes[i : i+4 : i+4]
			d := bits.OnesCount64(c[0]^q0) + bits.OnesCount64(c[1]^q1) +
				bits.OnesCount64(c[2]^q2) + bits.OnesCount64(c[3]^q3)
			if d <= r {
				hits = append(hits, idxHit{pos: uint32(i / 4), dist: int32(d)})
			}
		}
	case 1:
		q0 := q[0]
		for i, c := range codes {
			if d := bits.OnesCount64(c ^ q0); d <= r {
				hits = append(hits, idxHit{pos: uint32(i), dist: int32(d)})
			}
		}
	}
	return hits
}

// distAt is the Hamming distance between q and the code at pos.
func (t *idxTable) distAt(q *Code, pos uint32) int {
	if t.words == 1 {
		return bits.OnesCount64(t.codes[pos] ^ q[0])
	}
	c := t.codes[int(pos)*4 : int(pos)*4+4 : int(pos)*4+4]
	return bits.OnesCount64(c[0]^q[0]) + bits.OnesCount64(c[1]^q[1]) +
		bits.OnesCount64(c[2]^q[2]) + bits.OnesCount64(c[3]^q[3])
}

// Has reports whether the index holds entries of algorithm a, so a matcher
// computes only the hashes the index can answer.
func (x *Index) Has(a Algorithm) bool {
	t := x.table(a)
	return t != nil && t.n > 0
}
