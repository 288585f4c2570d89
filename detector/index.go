package detector

import (
	"fmt"
	"slices"
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
}

// Match is an index entry found within the query distance.
type Match struct {
	Entry    *Entry
	Distance int
}

// Index answers "which known entries lie within distance r of this hash".
// It is immutable once built and safe for concurrent queries.
type Index struct {
	entries []Entry
	byAlgo  map[Algorithm][]int32
}

// NewIndex builds an index over entries. The slice is owned by the index
// afterwards.
func NewIndex(entries []Entry) (*Index, error) {
	x := &Index{entries: entries, byAlgo: make(map[Algorithm][]int32)}
	for i, e := range entries {
		if e.Hash.Algorithm.Bits() == 0 {
			return nil, fmt.Errorf("index: entry %d (%s/%s): %w", i, e.List, e.ID, ErrUnknownAlgorithm)
		}
		x.byAlgo[e.Hash.Algorithm] = append(x.byAlgo[e.Hash.Algorithm], int32(i))
	}
	return x, nil
}

// Len is the number of entries.
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return len(x.entries)
}

// Algorithms lists the algorithms the index holds entries for.
func (x *Index) Algorithms() []Algorithm {
	if x == nil {
		return nil
	}
	var out []Algorithm
	for a := range x.byAlgo {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Query appends to dst every entry of h's algorithm within maxDistance of h,
// nearest first, and returns the extended slice.
func (x *Index) Query(h Hash, maxDistance int, dst []Match) []Match {
	if x == nil {
		return dst
	}
	start := len(dst)
	for _, i := range x.byAlgo[h.Algorithm] {
		e := &x.entries[i]
		if d := h.Code.Distance(e.Hash.Code); d <= maxDistance {
			dst = append(dst, Match{Entry: e, Distance: d})
		}
	}
	slices.SortStableFunc(dst[start:], func(a, b Match) int { return a.Distance - b.Distance })
	return dst
}

// Has reports whether the index holds entries of algorithm a.
func (x *Index) Has(a Algorithm) bool {
	return x != nil && len(x.byAlgo[a]) > 0
}
