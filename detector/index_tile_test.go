package detector

import (
	"math/bits"
	"math/rand/v2"
	"testing"
)

// Each Hamming code tiles its blocks: every block is a codeword or one bit
// from exactly one, which its syndrome names; information bits tell the
// codewords apart; near lists every codeword, nearest first.
func TestMihTile(t *testing.T) {
	for lt := 1; lt <= mihTileMax; lt++ {
		tile := mihTileFor(lt)
		nb := uint32(1) << tile.b
		seen := make(map[uint32]bool)
		for b := range nb {
			e := tile.syndrome(b)
			c := b ^ 1<<e>>1
			if e > uint32(tile.b) || c >= nb || tile.syndrome(c) != 0 {
				t.Fatalf("lt=%d block %#x: syndrome %d gives %#x, not a codeword", lt, b, e, c)
			}
			if e == 0 {
				inf := tile.infoOf(c)
				if inf >= 1<<tile.k || seen[inf] {
					t.Fatalf("lt=%d codeword %#x: information %#x out of range or repeated", lt, c, inf)
				}
				seen[inf] = true
			}
		}
		if len(seen) != 1<<tile.k {
			t.Fatalf("lt=%d: %d codewords, want %d", lt, len(seen), 1<<tile.k)
		}
		for e, ws := range tile.near {
			if len(ws) != len(seen) {
				t.Fatalf("lt=%d e=%d: %d codewords listed", lt, e, len(ws))
			}
			for i, w := range ws {
				c := w.x ^ 1<<e>>1
				if tile.syndrome(c) != 0 || tile.infoOf(c) != w.info || int(w.d) != bits.OnesCount32(w.x) || i > 0 && w.d < ws[i-1].d {
					t.Fatalf("lt=%d e=%d: entry %d %+v", lt, e, i, w)
				}
			}
		}
	}
}

// For every shape of cell, a search's probes are exactly the cells that
// hold a substring within the radius of the query's, and a substring in
// them passes the postings' filter exactly when it is within the radius.
func TestMihCellShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, tc := range []struct{ width, coarse, lt, plain int }{
		{10, 10, 0, 0},
		{9, 8, 1, 0},
		{14, 12, 2, 0},
		{13, 10, 3, 0},
		{12, 8, 3, 1},
		{15, 11, 4, 0},
		{16, 11, 4, 1},
		{14, 6, 3, 5},
	} {
		sh := mihShapeFor(tc.width, tc.coarse)
		mix := sh.mix
		if int(sh.lt) != tc.lt || int(sh.plain) != tc.plain {
			t.Fatalf("%+v: lt %d, plain %d", tc, sh.lt, sh.plain)
		}
		s := mihSlot{width: tc.width, coarse: tc.coarse, mix: mix, shape: sh, shift: int(sh.k)}
		s.masks = mihMasks(s.coarse-s.shift, min(mihMaskRadius, s.coarse-s.shift), s.shift, mix)
		s.probes = s.mihCellProbes()
		// Every substring's key and low field, which must tell it apart.
		n := 1 << tc.width
		keys, lows := make([]uint32, n), make([]uint32, n)
		type kl struct{ key, low uint32 }
		seen := make(map[kl]bool, n)
		for v := range n {
			key, low := sh.key(uint32(v))
			keys[v], lows[v] = mix.apply(key), low
			if key >= 1<<tc.coarse || seen[kl{key, low}] {
				t.Fatalf("%+v: substring %#x: key %#x, low %#x out of range or repeated", tc, v, key, low)
			}
			seen[kl{key, low}] = true
		}
		for range 40 {
			qv := uint32(rng.IntN(n))
			key, qpl, e := sh.query(qv)
			qc := mix.apply(key)
			f := mihFilter{q: qpl, lt: uint32(sh.lt), plain: uint32(sh.plain), c2: 1 << 16}
			for rk := range s.probes {
				lines := make(map[uint32]uint32) // key -> run word
				for _, p := range s.probes[rk][e] {
					k := qc ^ p.off
					if _, dup := lines[k]; dup {
						t.Fatalf("%+v r=%d: key %#x listed twice", tc, rk, k)
					}
					lines[k] = p.word
				}
				held := make(map[uint32]bool)
				for v := range n {
					d := bits.OnesCount32(uint32(v) ^ qv)
					word, listed := lines[keys[v]]
					if d <= rk {
						held[keys[v]] = true
						if !listed {
							t.Fatalf("%+v r=%d: substring %#x at distance %d in no probed cell", tc, rk, v, d)
						}
					}
					if !listed {
						continue
					}
					// The filter, as the scans apply it to a posting of
					// position 0.
					pass := len(f.pass(nil, []uint32{lows[v]}, word)) == 1
					if pass != (d <= rk) {
						t.Fatalf("%+v r=%d: substring %#x at distance %d passes: %v", tc, rk, v, d, pass)
					}
				}
				for k := range lines {
					if !held[k] {
						t.Fatalf("%+v r=%d: cell %#x probed, holds nothing within reach", tc, rk, k)
					}
				}
				if got, want := float64(len(lines)), mihCellProbeCount(tc.width, tc.coarse, rk); rk == 2 && (got < want/3 || got > want*3) {
					t.Fatalf("%+v r=2: %v probes, the model says %.1f", tc, got, want)
				}
			}
		}
	}
}
