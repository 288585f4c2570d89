package detector

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"unsafe"
)

// TestMihMixInvertibleLinear: for every key width a layout can use, mix is
// linear over GF(2), a bijection, the same map on every call, and not the
// identity (or the cells would sit in key order again); so is a map
// keeping a bit, which sends that bit to bit 0 (the keys differing only
// there are a pair of lines).
func TestMihMixInvertibleLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for c := 1; c <= 32; c++ {
		for keep := -1; keep < c; keep += max(1, c/3) {
			for n := 1; n <= 3; n++ {
				mihCheckMix(t, rng, c, keep, n)
			}
		}
	}
	if mihMixFor(0) != nil || mihMixFor(0).apply(7) != 7 {
		t.Fatal("c=0: want no map, which leaves keys as they are")
	}
}

// mihCheckMix checks the map of c-bit keys keeping n bits from bit keep,
// or the plain map for keep < 0.
func mihCheckMix(t *testing.T, rng *rand.Rand, c, keep, n int) {
	t.Helper()
	m, again := mihMixFor(c), mihMixFor(c)
	if keep >= 0 {
		m, again = mihMixKeeping(c, keep, n), mihMixKeeping(c, keep, n)
		for b := keep; b < min(keep+n, c) && min(n, c-keep) < c; b++ {
			if got := m.apply(1 << b); got != 1<<(b-keep) {
				t.Fatalf("c=%d keep %d n %d: bit %d goes to %#x, not bit %d", c, keep, n, b, got, b-keep)
			}
		}
	}
	if m != again {
		t.Fatalf("c=%d keep %d: a second call gives another map", c, keep)
	}
	mask := uint32(1<<uint(c) - 1)
	var cols []uint32
	identity := true
	for b := range c {
		col := m.apply(1 << uint(b))
		if col&^mask != 0 {
			t.Fatalf("c=%d keep %d: bit %d maps outside %d bits: %#x", c, keep, b, c, col)
		}
		identity = identity && col == 1<<uint(b)
		cols = append(cols, col)
	}
	if r := mihRank(cols); r != c {
		t.Fatalf("c=%d keep %d: rank %d, not invertible", c, keep, r)
	}
	if identity && (c > n+1 || keep < 0 && c > 1) {
		t.Fatalf("c=%d keep %d: mix is the identity", c, keep)
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

// mihCheckLayout checks where a wider table keeps its entries: each in
// the range slot 0's head at mix(its key) gives, and
// its posting in the line of mix(its key) of every later slot or that
// line's overflow run; maxRun is the longest run.
func mihCheckLayout(t *testing.T, tab *idxTable) {
	t.Helper()
	if s := tab.slots[0]; s.heads != nil {
		low := uint(s.width - s.coarse)
		for i := range tab.n {
			b := s.headOf(mihSub(tab.codes[i*tab.words:(i+1)*tab.words], s.start, s.width) >> low)
			if lo, hi := s.mihBucket0(b); uint32(i) < lo || uint32(i) >= hi {
				t.Fatalf("slot 0: entry %d outside its bucket %d, [%d, %d)", i, b, lo, hi)
			}
		}
	}
	for k := 1; k < len(tab.slots); k++ {
		s := tab.slots[k]
		c := s.pcells
		if c == nil {
			continue
		}
		// Every line's postings, read as the scans read them, against
		// those each entry's substring puts there: its pair, its low field
		// and its chain.
		got := make(map[uint32][]uint32) // line -> postings
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
			if ps := slices.Concat(c.lines[16*line+1:16*line+1+int(h)], run); len(ps) > 0 {
				got[uint32(line)] = ps
			}
		}
		if longest != c.maxRun {
			t.Fatalf("slot %d: maxRun %d, longest run %d", k, c.maxRun, longest)
		}
		want := make(map[uint32][]uint32)
		pb := tab.pairBits()
		nx := tab.slots[(k+1)%len(tab.slots)]
		for i := range tab.n {
			code := tab.codes[i*tab.words : (i+1)*tab.words]
			key, low := s.shape.key(mihSub(code, s.start, s.width))
			line := s.mix.apply(key)
			low |= nx.top(code, c.chain) << uint(s.width-s.coarse)
			want[line] = append(want[line], uint32(i>>tab.pairShift)|low<<pb)
		}
		if len(got) != len(want) {
			t.Fatalf("slot %d: %d lines hold postings, want %d", k, len(got), len(want))
		}
		for line, ps := range want {
			g := slices.Clone(got[line])
			slices.Sort(g)
			slices.Sort(ps)
			if !slices.Equal(g, ps) {
				t.Fatalf("slot %d line %d: postings %#x, want %#x", k, line, g, ps)
			}
		}
	}
}

// BenchmarkMihLinePlacement times what the cells' placement is for: the
// lines of one PDQ query's probes (every 20-bit key within 2 bits of a
// random one, in each of ten 64 MiB arrays like the cells), prefetched 64
// ahead and read, with the lines in key order, placed by mix, and at
// uniformly random places. ns/op is per query of 2,110 lines.
func BenchmarkMihLinePlacement(b *testing.B) {
	const slots, c = 10, 20
	arrays := make([][]byte, slots)
	for k := range arrays {
		arrays[k] = idxAlignedBytes(64 << c)
		for i := 0; i < len(arrays[k]); i += 4096 {
			arrays[k][i] = 1
		}
	}
	mix := mihMixFor(c)
	masks, mixed := mihMasks(c, 2, 0, nil), mihMasks(c, 2, 0, mix)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, place := range []string{"key-order", "mixed", "random"} {
		b.Run(place, func(b *testing.B) {
			var addrs []uintptr
			var at [][2]int // array and offset of each address
			sum := 0
			for b.Loop() {
				addrs, at = addrs[:0], at[:0]
				for k := range slots {
					base := uintptr(unsafe.Pointer(&arrays[k][0]))
					qc := uint32(rng.IntN(1 << c))
					for j := range masks {
						for i := range masks[j] {
							var line uint32
							switch place {
							case "key-order":
								line = qc ^ masks[j][i]
							case "mixed":
								line = mix.apply(qc) ^ mixed[j][i]
							default:
								line = uint32(rng.IntN(1 << c))
							}
							addrs = append(addrs, base+64*uintptr(line))
							at = append(at, [2]int{k, 64 * int(line)})
						}
					}
				}
				mihPrefetch(addrs[:64])
				for i, a := range at {
					if i%16 == 0 && i+64 < len(addrs) {
						mihPrefetch(addrs[i+64 : min(len(addrs), i+80)])
					}
					sum += int(arrays[a[0]][a[1]])
				}
			}
			runtime.KeepAlive(arrays)
			_ = sum
		})
	}
}
