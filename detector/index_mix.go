package detector

import (
	"math/bits"
	"math/rand/v2"
	"sync"
)

// Cell lines are not laid out in the order of their keys. A probe visits
// every key within a small Hamming distance of the query's, so in key order
// its lines sit at the query's address with one or two address bits
// flipped: strides of 64 bytes times powers of two, which DRAM maps onto
// the same banks, so the misses queue behind each other. Measured (2,110
// lines, ten 64 MiB arrays, prefetched 64 ahead, reads only): key order
// 17.6 us, the same lines at uniformly random places 11.1 us. Cells are
// therefore addressed by mix(key), an invertible linear map over GF(2) with
// random columns: the probe set lands at random-looking places (12.2 us,
// and 7.5 us against 17.4 us on huge pages), and since mix(a^b) =
// mix(a)^mix(b) a query mixes its key once and XORs precomputed mixed masks
// onto it, as cheap as before. BenchmarkMihLinePlacement repeats the
// measurement with the listing of addresses included (key order 31.7 us,
// mixed 20.1 us, random 22.6 us on huge pages).

// mihMix is an invertible linear map on keys of up to 32 bits, as byte
// tables: mix(x) is the XOR of tab[i][byte i of x].
type mihMix struct {
	tab [4][256]uint32
}

func (m *mihMix) apply(x uint32) uint32 {
	if m == nil {
		return x
	}
	return m.tab[0][x&255] ^ m.tab[1][x>>8&255] ^ m.tab[2][x>>16&255] ^ m.tab[3][x>>24]
}

var mihMixes struct {
	sync.Mutex
	byBits  [33]*mihMix
	keeping map[[3]int]*mihMix
}

// mihMixFor returns the map for c-bit keys: fixed for each c (built and
// loaded indexes must agree; nothing of it is stored), nil for c = 0.
func mihMixFor(c int) *mihMix {
	if c <= 0 || c > 32 {
		return nil
	}
	mihMixes.Lock()
	defer mihMixes.Unlock()
	if m := mihMixes.byBits[c]; m != nil {
		return m
	}
	rng := rand.New(rand.NewPCG(0x76696769, uint64(c)))
	mask := uint32(1<<uint(c) - 1)
	var col [32]uint32
	for {
		for b := range c {
			col[b] = rng.Uint32() & mask
		}
		if mihRank(col[:c]) == c {
			break
		}
	}
	m := mihMixOfColumns(col[:c])
	mihMixes.byBits[c] = m
	return m
}

// mihMixKeeping returns a map for c-bit keys that sends bits keep ..
// keep+n-1 to bits 0 .. n-1 and mixes the others above them with
// mihMixFor(c-n): keys that differ only in those bits share an aligned
// group of 2^n lines. With fewer than n bits from keep, it keeps those
// there are.
func mihMixKeeping(c, keep, n int) *mihMix {
	n = min(n, c-keep)
	if keep < 0 || n <= 0 || n >= c {
		return mihMixFor(c)
	}
	id := [3]int{c, keep, n}
	mihMixes.Lock()
	if m := mihMixes.keeping[id]; m != nil {
		mihMixes.Unlock()
		return m
	}
	mihMixes.Unlock()
	rest := mihMixFor(c - n)
	var col [32]uint32
	for b := range c {
		switch {
		case b < keep:
			col[b] = rest.apply(1<<b) << n
		case b < keep+n:
			col[b] = 1 << (b - keep)
		default:
			col[b] = rest.apply(1<<(b-n)) << n
		}
	}
	m := mihMixOfColumns(col[:c])
	mihMixes.Lock()
	defer mihMixes.Unlock()
	if mihMixes.keeping == nil {
		mihMixes.keeping = make(map[[3]int]*mihMix)
	}
	mihMixes.keeping[id] = m
	return m
}

// mihMixOfColumns is the linear map whose column b (the image of bit b) is
// col[b].
func mihMixOfColumns(col []uint32) *mihMix {
	m := &mihMix{}
	for i := range 4 {
		for v := range 256 {
			y := uint32(0)
			for b := range 8 {
				if bit := 8*i + b; v>>b&1 != 0 && bit < len(col) {
					y ^= col[bit]
				}
			}
			m.tab[i][v] = y
		}
	}
	return m
}

// mihRank is the rank over GF(2) of the vectors vs.
func mihRank(vs []uint32) int {
	var basis [32]uint32
	rank := 0
	for _, v := range vs {
		for v != 0 {
			top := 31 - bits.LeadingZeros32(v)
			if basis[top] == 0 {
				basis[top] = v
				rank++
				break
			}
			v ^= basis[top]
		}
	}
	return rank
}
