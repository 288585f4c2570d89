package detector

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMihMixInvertibleLinear: for every key width a layout can use, mix is
// linear over GF(2), a bijection, the same map on every call, and not the
// identity (or the cells would sit in key order again).
func TestMihMixInvertibleLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for c := 1; c <= 32; c++ {
		m := mihMixFor(c)
		if m != mihMixFor(c) {
			t.Fatalf("c=%d: a second call gives another map", c)
		}
		mask := uint32(1<<uint(c) - 1)
		var cols []uint32
		identity := true
		for b := range c {
			col := m.apply(1 << uint(b))
			if col&^mask != 0 {
				t.Fatalf("c=%d: bit %d maps outside %d bits: %#x", c, b, c, col)
			}
			identity = identity && col == 1<<uint(b)
			cols = append(cols, col)
		}
		if r := mihRank(cols); r != c {
			t.Fatalf("c=%d: rank %d, not invertible", c, r)
		}
		if identity && c > 1 {
			t.Fatalf("c=%d: mix is the identity", c)
		}
		for range 200 {
			x, y := rng.Uint32()&mask, rng.Uint32()&mask
			if m.apply(x^y) != m.apply(x)^m.apply(y) {
				t.Fatalf("c=%d: mix(%#x ^ %#x) is not mix(x) ^ mix(y)", c, x, y)
			}
		}
		if c <= 16 {
			seen := make([]bool, 1<<uint(c))
			for x := range uint32(1) << uint(c) {
				y := m.apply(x)
				if seen[y] {
					t.Fatalf("c=%d: two keys map to line %#x", c, y)
				}
				seen[y] = true
			}
		}
	}
	if mihMixFor(0) != nil || mihMixFor(0).apply(7) != 7 {
		t.Fatal("c=0: want no map, which leaves keys as they are")
	}
}

// mihCheckPostCells checks the layout of a wider table's posting cells:
// every entry's posting sits in the line of mix(its key) or that line's
// overflow run, and maxRun is the longest run.
func mihCheckPostCells(t *testing.T, tab *idxTable) {
	t.Helper()
	for k := 1; k < len(tab.slots); k++ {
		s := tab.slots[k]
		c := s.pcells
		if c == nil {
			continue
		}
		low := uint(s.width - s.coarse)
		idMask := uint32(1)<<tab.idBits - 1
		where := make(map[uint32]uint32, tab.n) // position -> line
		longest := uint32(0)
		for line := range len(c.lines) / 16 {
			h := c.lines[16*line]
			run := []uint32(nil)
			if h > mihPostCellCap {
				start := h - (mihPostCellCap + 1)
				run = c.ov[start+1 : start+1+c.ov[start]]
				longest = max(longest, c.ov[start])
				h = mihPostCellCap
			}
			for _, p := range slices.Concat(c.lines[16*line+1:16*line+1+int(h)], run) {
				where[p&idMask] = uint32(line)
			}
		}
		if longest != c.maxRun {
			t.Fatalf("slot %d: maxRun %d, longest run %d", k, c.maxRun, longest)
		}
		if len(where) != tab.n {
			t.Fatalf("slot %d: %d entries in the cells, want %d", k, len(where), tab.n)
		}
		for i := range tab.n {
			key := mihSub(tab.codes[i*tab.words:(i+1)*tab.words], s.start, s.width) >> low
			if got, want := where[uint32(i)], s.mix.apply(key); got != want {
				t.Fatalf("slot %d: entry %d in line %d, want mix(%#x) = %d", k, i, got, key, want)
			}
		}
	}
}
