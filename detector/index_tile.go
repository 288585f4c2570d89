package detector

import (
	"math/bits"
	"slices"
	"sync"
)

// Cells shaped as Hamming balls. A posting cell holds the entries of 2^L
// substrings (L = width - coarse): with the low L bits left out of the key,
// a cell is a subcube, and a radius-2 probe around the query's substring
// meets C(coarse, <=2) of them, 211 at 20 coarse bits, most of them for the
// one substring in 2^L that matches the query's low bits exactly.
//
// A ball of radius 1 is rounder than a subcube of the same size (Harper's
// theorem makes it the best shape), and the Hamming code of length
// 2^lt - 1 tiles its block exactly with such balls: every block is within
// distance 1 of exactly one codeword. So the lowest 2^lt - 1 bits of the
// substring form a block, the cell key holds its codeword's 2^lt - 1 - lt
// information bits instead of lt plain bits, and the posting holds the
// block's error position e (0 for the codeword itself, else the flipped
// bit plus one) where the plain low bits were. A radius-2 probe then meets
// 140 cells of a 24-bit substring with 20 coarse bits (lt = 4), against
// 211, and 186 of a 23-bit one (lt = 3); each posting is still filtered on
// its exact distance in the slot, so the candidates do not change.
//
// Layout of a w-bit substring, L = w - coarse, B = 2^lt - 1, K = B - lt:
//
//	| coarse-plain: coarse-K bits | plain low: L-lt bits | block: B bits |
//
// The cell key is coarse-plain << K | info(codeword of block); the
// posting's low field is plain low << lt | e. With lt = 0 (B = K = 0) this
// is the plain subcube cell.

// mihTileMax is the largest lt: blocks of up to 15 bits.
const mihTileMax = 4

// mihTile is the Hamming code of block length 2^lt - 1 whose bit i has
// syndrome i+1.
type mihTile struct {
	lt, b, k int
	syn      [2][256]uint8  // syndrome of a block's low and high byte
	info     [2][256]uint16 // information bits of a codeword's bytes
	// near[e] lists every codeword w by its distance from unit(e), the
	// nearest first: unit(0) = 0, unit(e) = 1<<(e-1).
	near [][]mihTileWord
}

// mihTileWord is a codeword seen from a block with error position e.
type mihTileWord struct {
	info uint32 // its information bits
	x    uint32 // unit(e) ^ the codeword
	d    uint8  // popcount(x)
}

var mihTiles struct {
	sync.Mutex
	byLt [mihTileMax + 1]*mihTile
}

// mihTileFor returns the code of lt tile bits; nil for none. One tile bit
// is the plain cell's last bit, as a code of length 1 with one codeword.
func mihTileFor(lt int) *mihTile {
	if lt < 1 || lt > mihTileMax {
		return nil
	}
	mihTiles.Lock()
	defer mihTiles.Unlock()
	if t := mihTiles.byLt[lt]; t != nil {
		return t
	}
	t := &mihTile{lt: lt, b: 1<<lt - 1}
	t.k = t.b - lt
	// Information bits: the positions whose syndrome is not a power of
	// two, in order; the parity bits are at the others.
	var dataPos []int
	for i := range t.b {
		if s := i + 1; s&(s-1) != 0 {
			dataPos = append(dataPos, i)
		}
	}
	for half := range 2 {
		for v := range 256 {
			var s uint8
			var inf uint16
			for bit := range 8 {
				i := 8*half + bit
				if v>>bit&1 == 0 || i >= t.b {
					continue
				}
				s ^= uint8(i + 1)
				if j := slices.Index(dataPos, i); j >= 0 {
					inf |= 1 << j
				}
			}
			t.syn[half][v], t.info[half][v] = s, inf
		}
	}
	var words []uint32
	for c := range uint32(1) << t.b {
		if t.syndrome(c) == 0 {
			words = append(words, c)
		}
	}
	t.near = make([][]mihTileWord, t.b+1)
	for e := range t.near {
		unit := uint32(1) << e >> 1
		ws := make([]mihTileWord, 0, len(words))
		for _, c := range words {
			x := unit ^ c
			ws = append(ws, mihTileWord{info: t.infoOf(c), x: x, d: uint8(bits.OnesCount32(x))})
		}
		slices.SortStableFunc(ws, func(a, b mihTileWord) int { return int(a.d) - int(b.d) })
		t.near[e] = ws
	}
	mihTiles.byLt[lt] = t
	return t
}

func (t *mihTile) syndrome(block uint32) uint32 {
	return uint32(t.syn[0][block&255] ^ t.syn[1][block>>8&255])
}

func (t *mihTile) infoOf(codeword uint32) uint32 {
	return uint32(t.info[0][codeword&255] ^ t.info[1][codeword>>8&255])
}

// mihTileBits is the number of tile bits a slot of the given width and
// coarse bits uses: up to mihTileMax of its low bits, as long as the
// codeword's information bits fit in the key.
func mihTileBits(width, coarse int) int {
	low := width - coarse
	for lt := min(low, mihTileMax); lt >= 1; lt-- {
		if 1<<lt-1-lt <= coarse {
			return lt
		}
	}
	return 0
}

// mihCellShape is how a posting-cell slot turns a substring into a cell
// key and a posting's low field.
type mihCellShape struct {
	tile   *mihTile        // nil for plain cells
	lt     uint            // tile bits: the low field is plain low << lt | e
	b, k   uint            // block and information bits
	plain  uint            // plain low bits
	mixedE [][]mihTileWord // near[e] with info placed by the slot's mix
	mix    *mihMix         // places the cells by key
}

var mihShapes struct {
	sync.Mutex
	byLayout map[[2]int]*mihCellShape
}

// mihShapeFor returns the shape of a posting-cell slot of the given width
// and coarse bits, and the map that places its keys. Shapes are
// shared: the codeword lists of four tile bits take 400 KB.
func mihShapeFor(width, coarse int) *mihCellShape {
	mihShapes.Lock()
	defer mihShapes.Unlock()
	if sh := mihShapes.byLayout[[2]int{width, coarse}]; sh != nil {
		return sh
	}
	if mihShapes.byLayout == nil {
		mihShapes.byLayout = make(map[[2]int]*mihCellShape)
	}
	// The two lowest coarse-plain bits are kept out of the mix
	// (mihMixKeeping): keys that differ only there share an aligned group
	// of four lines, and the second line of an aligned pair costs about a
	// third of a line elsewhere (a random 128-byte pair 4.9 ns against 3.5
	// for a line, prefetched 128 ahead on huge pages). About 31 of the 140
	// cells of a radius-2 probe of a 24-bit slot share their pair. At 10M
	// PDQ codes, r=31, in-process A/B of the medians: one bit kept, 2-4%
	// off; two, 1-4% more; three, 1% slower than one; four, 7-12% slower.
	mix := mihMixKeeping(coarse, mihShapeInfoBits(width, coarse), mihKeptBits)
	sh := mihNewShape(width, coarse, mix)
	mihShapes.byLayout[[2]int{width, coarse}] = sh
	return sh
}

// mihKeptBits is the number of a cell key's coarse-plain bits that its
// line's place keeps as they are.
const mihKeptBits = 2

// mihShapeInfoBits is the number of a cell key's low bits that hold its
// codeword's information bits.
func mihShapeInfoBits(width, coarse int) int {
	if t := mihTileFor(mihTileBits(width, coarse)); t != nil {
		return t.k
	}
	return 0
}

func mihNewShape(width, coarse int, mix *mihMix) *mihCellShape {
	lt := mihTileBits(width, coarse)
	sh := &mihCellShape{tile: mihTileFor(lt), lt: uint(lt), mix: mix}
	if sh.tile == nil {
		// No low bits: the one cell of the query's key, at distance 0.
		sh.mixedE = [][]mihTileWord{{{}}}
	} else {
		sh.b, sh.k = uint(sh.tile.b), uint(sh.tile.k)
		sh.mixedE = make([][]mihTileWord, len(sh.tile.near))
		for e, ws := range sh.tile.near {
			m := make([]mihTileWord, len(ws))
			for i, w := range ws {
				m[i] = w
				m[i].info = mix.apply(w.info)
			}
			sh.mixedE[e] = m
		}
	}
	sh.plain = uint(width-coarse) - sh.lt
	return sh
}

// key returns the cell key (unmixed) and the posting's low field of
// substring v.
func (sh *mihCellShape) key(v uint32) (key, low uint32) {
	block := v & (1<<sh.b - 1)
	pl := v >> sh.b & (1<<sh.plain - 1)
	cp := v >> (sh.b + sh.plain)
	if sh.tile == nil {
		return cp, pl
	}
	e := sh.tile.syndrome(block)
	c := block ^ (1 << e >> 1)
	return cp<<sh.k | sh.tile.infoOf(c), pl<<sh.lt | e
}

// query splits the query's substring v: the key of the cell its block's
// codeword gives (unmixed), its plain low bits, and its error position.
func (sh *mihCellShape) query(v uint32) (key, pl, e uint32) {
	key, low := sh.key(v)
	return key, low >> sh.lt, low & (1<<sh.lt - 1)
}
