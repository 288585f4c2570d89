package detector

import (
	"cmp"
	"slices"
)

// IndexStats describes an index for operators: what lists it holds and how
// its tables are laid out.
type IndexStats struct {
	Entries int
	// Allowlisted counts allowlist entries, included in Entries.
	Allowlisted int
	Lists       []ListSummary // by list, source, algorithm
	Tables      []TableStats  // by algorithm
}

// ListSummary counts the entries of one list of one algorithm.
type ListSummary struct {
	List      string
	Source    string
	Algorithm Algorithm
	Allow     bool
	Entries   int
}

// TableStats describes the table of one algorithm.
type TableStats struct {
	Algorithm Algorithm
	Entries   int
	// SlotBits holds the substring widths of the multi-index; empty when
	// every query scans linearly.
	SlotBits []int
	// LinearFrom is the smallest query radius answered by a linear scan
	// rather than the multi-index; Bits()+1 when none is.
	LinearFrom int
	// Bytes is the memory the table's columns and slot tables take.
	Bytes int64
}

// Stats counts the index's lists and describes its tables.
func (x *Index) Stats() IndexStats {
	var st IndexStats
	if x == nil {
		return st
	}
	st.Entries = x.n
	type key struct {
		list, source uint32
		algo         Algorithm
		allow        bool
	}
	counts := make(map[key]int)
	for _, t := range x.tables {
		if t == nil {
			continue
		}
		perTag := make([]int, len(x.tags))
		for i := range t.n {
			tg := t.tags.at(uint32(i))
			perTag[tg]++
		}
		for i, c := range perTag {
			if c == 0 {
				continue
			}
			tg := x.tags[i]
			allow := tg.flags&idxTagAllow != 0
			counts[key{tg.list, tg.source, t.algo, allow}] += c
			if allow {
				st.Allowlisted += c
			}
		}
		ts := TableStats{Algorithm: t.algo, Entries: t.n, LinearFrom: len(t.plans)}
		for _, s := range t.slots {
			ts.SlotBits = append(ts.SlotBits, s.width)
			ts.Bytes += int64(len(s.heads))*4 + int64(len(s.big))*8 + s.cells.bytes() + s.pcells.bytes()
		}
		for r, p := range t.plans {
			if p.linear {
				ts.LinearFrom = r
				break
			}
		}
		ts.Bytes += int64(len(t.codes))*8 + int64(len(t.tags.b)) + int64(len(t.ids))*4 + int64(len(t.times))*8
		st.Tables = append(st.Tables, ts)
	}
	for k, c := range counts {
		st.Lists = append(st.Lists, ListSummary{List: x.str(k.list), Source: x.str(k.source), Algorithm: k.algo, Allow: k.allow, Entries: c})
	}
	slices.SortFunc(st.Lists, func(a, b ListSummary) int {
		return cmp.Or(cmp.Compare(a.List, b.List), cmp.Compare(a.Source, b.Source), cmp.Compare(a.Algorithm, b.Algorithm))
	})
	return st
}
