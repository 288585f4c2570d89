package detector

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
)

// idxMaxEntries bounds one index: positions, string offsets and id
// references are 32-bit with a flag bit to spare.
const idxMaxEntries = 1 << 30

// Builder collects entries into the compact columns of an Index without
// keeping an Entry struct per hash, so that lists of tens of millions of
// hashes can be compiled in bounded memory. The zero value is ready to use.
// A Builder is not safe for concurrent use.
type Builder struct {
	n       int
	strIdx  map[string]uint32
	strOff  []uint32
	strBlob []byte
	tagIdx  map[idxTag]uint32
	tags    []idxTag
	idBlob  []byte
	tables  [idxAlgoSlots]*idxTableBuilder
	cfg     idxBuildConfig
}

// idxBuildConfig lets tests force layouts that the cost model would not pick.
type idxBuildConfig struct {
	slots    int  // > 0: use this many slots; < 0: none; 0: choose
	forceMIH bool // never fall back to the linear scan when slots cover r
	// maxLow, for tests, gives posting-cell slots at most this many low
	// bits, and more coarse ones, whatever memory that takes: small tables
	// then have the cells of big ones (Hamming tiles and no plain low
	// bits, index_tile.go).
	maxLow int
}

type idxTableBuilder struct {
	algo  Algorithm
	codes []uint64
	tags  []uint32
	ids   []uint32
	times []float64 // nil until an entry has a non-zero time
}

// Len is the number of entries added so far.
func (b *Builder) Len() int { return b.n }

// Add adds one entry. It fails for an unknown algorithm or when the index
// would outgrow its 32-bit offsets.
func (b *Builder) Add(e Entry) error {
	a := e.Hash.Algorithm
	if a.Bits() == 0 || int(a) >= idxAlgoSlots {
		return fmt.Errorf("%w: %s", ErrUnknownAlgorithm, a)
	}
	if b.n >= idxMaxEntries {
		return fmt.Errorf("%w: more than %d entries", ErrIndexTooLarge, idxMaxEntries)
	}
	tag, err := b.tag(e)
	if err != nil {
		return err
	}
	ref, err := b.idRef(e.ID)
	if err != nil {
		return err
	}
	t := b.tables[a]
	if t == nil {
		t = &idxTableBuilder{algo: a}
		b.tables[a] = t
	}
	t.codes = append(t.codes, e.Hash.Code[:a.Bits()/64]...)
	t.tags = append(t.tags, tag)
	t.ids = append(t.ids, ref)
	if e.Time != 0 && t.times == nil {
		t.times = make([]float64, len(t.ids)-1, cap(t.ids))
	}
	if t.times != nil {
		t.times = append(t.times, e.Time)
	}
	b.n++
	return nil
}

func (b *Builder) intern(s string) (uint32, error) {
	if b.strIdx == nil {
		b.strIdx = make(map[string]uint32)
		b.strOff = []uint32{0}
	}
	if k, ok := b.strIdx[s]; ok {
		return k, nil
	}
	if int64(len(b.strBlob))+int64(len(s)) >= idxNumericID {
		return 0, fmt.Errorf("%w: string table over 2 GiB", ErrIndexTooLarge)
	}
	k := uint32(len(b.strOff) - 1)
	b.strBlob = append(b.strBlob, s...)
	b.strOff = append(b.strOff, uint32(len(b.strBlob)))
	b.strIdx[s] = k
	return k, nil
}

func (b *Builder) tag(e Entry) (uint32, error) {
	var tg idxTag
	var err error
	if tg.list, err = b.intern(e.List); err != nil {
		return 0, err
	}
	if tg.source, err = b.intern(e.Source); err != nil {
		return 0, err
	}
	if tg.label, err = b.intern(e.Label); err != nil {
		return 0, err
	}
	if e.Allow {
		tg.flags |= idxTagAllow
	}
	if b.tagIdx == nil {
		b.tagIdx = make(map[idxTag]uint32)
	}
	if k, ok := b.tagIdx[tg]; ok {
		return k, nil
	}
	k := uint32(len(b.tags))
	b.tags = append(b.tags, tg)
	b.tagIdx[tg] = k
	return k, nil
}

// idRef stores small canonical decimal ids (line numbers, numeric ids) in
// the reference itself and everything else in the id blob.
func (b *Builder) idRef(id string) (uint32, error) {
	if v, ok := idxNumeric(id); ok {
		return idxNumericID | v, nil
	}
	off := len(b.idBlob)
	if int64(off)+int64(len(id))+binary.MaxVarintLen64 >= idxNumericID {
		return 0, fmt.Errorf("%w: ids over 2 GiB", ErrIndexTooLarge)
	}
	b.idBlob = binary.AppendUvarint(b.idBlob, uint64(len(id)))
	b.idBlob = append(b.idBlob, id...)
	return uint32(off), nil
}

// idxNumeric reports whether id is the canonical decimal form of a number
// below 2^31, so that formatting the number gives id back.
func idxNumeric(id string) (uint32, bool) {
	if id == "" || len(id) > 10 || (id[0] == '0' && len(id) > 1) {
		return 0, false
	}
	v, err := strconv.ParseUint(id, 10, 31)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// Build compiles the entries added so far into an Index and resets the
// Builder.
func (b *Builder) Build() (*Index, error) {
	if b.strIdx == nil {
		if _, err := b.intern(""); err != nil {
			return nil, err
		}
	}
	x := &Index{
		n:       b.n,
		strOff:  b.strOff,
		strBlob: string(b.strBlob),
		tags:    b.tags,
		idBlob:  string(b.idBlob),
	}
	for a, tb := range b.tables {
		if tb == nil || len(tb.tags) == 0 {
			continue
		}
		x.tables[a] = tb.finish(b.cfg, len(b.tags))
	}
	cfg := b.cfg
	*b = Builder{cfg: cfg}
	return x, nil
}

// finish orders the table by its slot-0 substring and builds the posting
// lists of the other slots.
func (tb *idxTableBuilder) finish(cfg idxBuildConfig, ntags int) *idxTable {
	n := len(tb.tags)
	words := tb.algo.Bits() / 64
	t := &idxTable{
		algo:   tb.algo,
		words:  words,
		n:      n,
		codes:  tb.codes,
		tags:   idxNarrowTags(tb.tags, ntags),
		ids:    tb.ids,
		times:  tb.times,
		idBits: uint(max(1, bits.Len32(uint32(n-1)))),
	}
	m := cfg.slots
	switch {
	case m < 0:
		m = 0
	case m == 0:
		m = mihChooseSlots(tb.algo, n, t.idBits)
	}
	t.slots = mihLayout(tb.algo.Bits(), m, n, t.idBits)
	if m > 0 {
		offsets := t.mihOrder()
		if words == 1 {
			t.mihBuildCells()
		} else {
			s := &t.slots[0]
			s.mihPackHeads(offsets, t.idBits)
			if cfg.maxLow > 0 {
				for k := 1; k < m; k++ {
					s := &t.slots[k]
					s.coarse = max(s.coarse, s.width-cfg.maxLow)
				}
			} else {
				t.mihFitPostCells()
			}
			t.mihBuildPostCells()
		}
	}
	t.mihPrepare(cfg.forceMIH)
	return t
}

// mihKeys computes the coarse key of slot k for every entry.
func (t *idxTable) mihKeys(k int, keys []uint32) []uint32 {
	s := t.slots[k]
	low := uint(s.width - s.coarse)
	keys = keys[:0]
	for i := range t.n {
		keys = append(keys, mihSub(t.codes[i*t.words:(i+1)*t.words], s.start, s.width)>>low)
	}
	return keys
}

// mihCount turns keys into bucket offsets; the returned cursor slice starts
// as a copy of the bucket starts.
func mihCount(keys []uint32, coarse int) (offsets, cursor []uint32) {
	offsets = make([]uint32, (1<<uint(coarse))+1)
	for _, k := range keys {
		offsets[k+1]++
	}
	for i := 1; i < len(offsets); i++ {
		offsets[i] += offsets[i-1]
	}
	cursor = make([]uint32, len(offsets)-1)
	copy(cursor, offsets)
	return offsets, cursor
}

// mihOrder stably sorts the table's columns by slot-0 coarse key and returns
// the bounds of its buckets, in key order.
func (t *idxTable) mihOrder() []uint32 {
	keys := t.mihKeys(0, make([]uint32, 0, t.n))
	offsets, cursor := mihCount(keys, t.slots[0].coarse)
	perm := make([]uint32, t.n) // perm[new] = old
	for i, k := range keys {
		perm[cursor[k]] = uint32(i)
		cursor[k]++
	}
	keys, cursor = nil, nil
	// Aligned to a line and padded: the verification reads a pair of
	// codes as one line (mihVerifyPairsAVX512).
	codes := idxAlignedUint64s(len(t.codes))
	w := t.words
	for nw, old := range perm {
		copy(codes[nw*w:(nw+1)*w], t.codes[int(old)*w:int(old+1)*w])
	}
	t.codes = codes
	t.tags = t.tags.permute(perm)
	t.ids = idxPermute(t.ids, perm)
	if t.times != nil {
		t.times = idxPermute(t.times, perm)
	}
	return offsets
}

func idxPermute[T any](s []T, perm []uint32) []T {
	out := make([]T, len(s))
	for nw, old := range perm {
		out[nw] = s[old]
	}
	return out
}
