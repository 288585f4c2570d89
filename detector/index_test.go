package detector

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// idxTestCode returns a random code of algorithm a.
func idxTestCode(rng *rand.Rand, a Algorithm) Code {
	var c Code
	for i := range a.Bits() / 64 {
		c[i] = rng.Uint64()
	}
	return c
}

// idxTestFlip flips d distinct random bits of c within a's code length.
func idxTestFlip(rng *rand.Rand, a Algorithm, c Code, d int) Code {
	for _, b := range rng.Perm(a.Bits())[:d] {
		c[b/64] ^= 1 << uint(63-b%64)
	}
	return c
}

// idxTestData makes n entries: random codes, or near-duplicate families of up
// to 20 members around a random base, as real lists have, with some exact
// duplicates in a second list.
func idxTestData(rng *rand.Rand, a Algorithm, n int, clustered bool) []Entry {
	out := make([]Entry, 0, n)
	for len(out) < n {
		base := idxTestCode(rng, a)
		members := 1
		if clustered {
			members = 1 + rng.IntN(20)
		}
		for range members {
			c := base
			if clustered {
				c = idxTestFlip(rng, a, base, rng.IntN(a.Bits()/6))
			}
			id := strconv.Itoa(len(out))
			if len(out)%3 == 0 {
				id = "v-" + id
			}
			e := Entry{Hash: Hash{a, c}, List: "list" + strconv.Itoa(len(out)%3), ID: id, Label: "l" + strconv.Itoa(len(out)%5), Source: "src", Time: float64(len(out) % 7)}
			out = append(out, e)
			if clustered && rng.IntN(10) == 0 {
				e.List = "other"
				out = append(out, e)
			}
		}
	}
	return out
}

// idxTestQueries makes queries: random codes, listed codes, and listed codes
// moved by up to bits/4.
func idxTestQueries(rng *rand.Rand, a Algorithm, entries []Entry, n int) []Hash {
	var qs []Hash
	for i := range n {
		switch i % 3 {
		case 0:
			qs = append(qs, Hash{a, idxTestCode(rng, a)})
		case 1:
			qs = append(qs, entries[rng.IntN(len(entries))].Hash)
		default:
			e := entries[rng.IntN(len(entries))]
			qs = append(qs, Hash{a, idxTestFlip(rng, a, e.Hash.Code, rng.IntN(a.Bits()/4))})
		}
	}
	return qs
}

func idxTestBuild(t testing.TB, entries []Entry, cfg idxBuildConfig) *Index {
	t.Helper()
	b := Builder{cfg: cfg}
	for _, e := range entries {
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	x, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// idxBrute is the reference: every entry within r, as "distance/list/id"
// keys, sorted.
func idxBrute(entries []Entry, h Hash, r int) []string {
	var out []string
	for _, e := range entries {
		if e.Hash.Algorithm != h.Algorithm {
			continue
		}
		if d := e.Hash.Code.Distance(h.Code); d <= r {
			out = append(out, fmt.Sprintf("%03d/%s/%s/%s", d, e.List, e.ID, e.Hash))
		}
	}
	slices.Sort(out)
	return out
}

func idxKeys(ms []Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%03d/%s/%s/%s", m.Distance, m.Entry.List, m.Entry.ID, m.Entry.Hash))
	}
	slices.Sort(out)
	return out
}

func idxTestRadii(a Algorithm) []int {
	var rs []int
	for r := -1; r <= a.Bits(); r++ {
		if r <= 48 || r%13 == 0 || r >= a.Bits()-1 {
			rs = append(rs, r)
		}
	}
	return rs
}

// TestIndexMIHMatchesLinear is the property the index stands on: for every
// radius, on random and on clustered data, with every layout, the
// multi-index search returns exactly what a linear scan returns, in the same
// order, and the entries a brute-force pass over the input finds.
func TestIndexMIHMatchesLinear(t *testing.T) {
	layouts := map[Algorithm][]int{PDQ: {8, 11, 16}, PHash: {2, 3, 4}}
	for _, a := range []Algorithm{PDQ, PHash} {
		for _, clustered := range []bool{false, true} {
			for _, m := range layouts[a] {
				name := fmt.Sprintf("%s/clustered=%v/m=%d", a, clustered, m)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					rng := rand.New(rand.NewPCG(uint64(m), uint64(a)))
					idxCheckMIH(t, rng, a, m, idxTestData(rng, a, 2500, clustered))
				})
			}
		}
	}
}

// TestIndexMIHSpills: hundreds of copies of a few codes fill buckets far
// past a cell line, so that queries near them read long overflow runs.
func TestIndexMIHSpills(t *testing.T) {
	for _, a := range []Algorithm{PDQ, PHash} {
		rng := rand.New(rand.NewPCG(3, uint64(a)))
		m := 11
		if a == PHash {
			m = 3
		}
		idxCheckMIH(t, rng, a, m, idxSpillData(rng, a))
	}
}

// TestIndexMIHLongHeads: slot 0's heads re-packed with 29 bits for a start
// keep three for a length, so every bucket of seven codes or more has its
// end looked up in big; the search must still find exactly the scan's
// answers, on clustered and spilling data.
func TestIndexMIHLongHeads(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 7))
	for _, tc := range []struct {
		name    string
		entries []Entry
	}{
		{"clustered", idxTestData(rng, PDQ, 2500, true)},
		{"spills", idxSpillData(rng, PDQ)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := idxTestBuild(t, tc.entries, idxBuildConfig{slots: 11, forceMIH: true})
			tab := x.tables[PDQ]
			tab.slots[0].mihPackHeads(tab.mihOffsets0(), 29)
			if len(tab.slots[0].big) == 0 {
				t.Fatal("no slot-0 bucket has its end in big")
			}
			idxCheckMIHBuilt(t, rng, x, PDQ, tc.entries)
		})
	}
}

// TestIndexMIHTiles: tables whose slots' cells are Hamming balls with no
// plain low bits, as 10M PDQ codes have (the scan's TILE16), answer as the
// linear scan does. Here, with 6,000 entries, the cells are sparse.
func TestIndexMIHTiles(t *testing.T) {
	idxCheckTiles(t, rand.New(rand.NewPCG(20, 11)))
}

func idxCheckTiles(t *testing.T, rng *rand.Rand) {
	t.Helper()
	for _, clustered := range []bool{false, true} {
		entries := idxTestData(rng, PDQ, 6000, clustered)
		x := idxTestBuild(t, entries, idxBuildConfig{slots: 16, forceMIH: true, maxLow: 4})
		pure := 0
		for _, s := range x.tables[PDQ].slots[1:] {
			if s.shape.plain == 0 && s.shape.lt >= 3 {
				pure++
			}
		}
		if pure == 0 {
			t.Fatal("no slot with tiles and no plain low bits")
		}
		idxCheckMIHBuilt(t, rng, x, PDQ, entries)
	}
}

func idxSpillData(rng *rand.Rand, a Algorithm) []Entry {
	entries := idxTestData(rng, a, 1500, false)
	for i := range 1500 {
		c := entries[i%4].Hash.Code
		if i%3 == 0 {
			c = idxTestFlip(rng, a, c, rng.IntN(4))
		}
		entries = append(entries, Entry{Hash: Hash{a, c}, List: "dup", ID: fmt.Sprint(i)})
	}
	return entries
}

// idxSparseData makes n entries whose codes have at most 12 bits set.
func idxSparseData(rng *rand.Rand, a Algorithm, n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		out[i] = Entry{Hash: Hash{a, idxTestFlip(rng, a, Code{}, rng.IntN(13))}, List: "sparse", ID: strconv.Itoa(i)}
	}
	return out
}

// idxCheckMIH builds entries with m slots and checks that the multi-index
// answers random and near queries at every radius as the linear scan and a
// brute force over the entries do.
func idxCheckMIH(t *testing.T, rng *rand.Rand, a Algorithm, m int, entries []Entry) {
	t.Helper()
	x := idxTestBuild(t, entries, idxBuildConfig{slots: m, forceMIH: true})
	if got := len(x.tables[a].slots); got != m {
		t.Fatalf("built %d slots, want %d", got, m)
	}
	idxCheckMIHBuilt(t, rng, x, a, entries)
}

func idxCheckMIHBuilt(t *testing.T, rng *rand.Rand, x *Index, a Algorithm, entries []Entry) {
	t.Helper()
	tab := x.tables[a]
	mihCheckLayout(t, tab)
	queries := idxTestQueries(rng, a, entries, 9)
	for _, r := range idxTestRadii(a) {
		for qi, q := range queries {
			mih := tab.search(&q.Code, r, nil)
			lin := tab.linear(&q.Code, r, nil)
			slices.SortFunc(lin, func(a, b idxHit) int {
				if a.dist != b.dist {
					return int(a.dist - b.dist)
				}
				return int(a.pos) - int(b.pos)
			})
			if !slices.Equal(mih, lin) {
				t.Fatalf("r=%d query %d (%s): mih %d hits, linear %d hits (plan %+v)", r, qi, q, len(mih), len(lin), tab.plans[max(r, 0)])
			}
			if !slices.Contains([]int{0, 1, 5, 10, 16, 31, 47}, r) {
				continue
			}
			got := idxKeys(x.Query(q, r, nil))
			want := idxBrute(entries, q, r)
			if !slices.Equal(got, want) {
				t.Fatalf("r=%d query %d: Query gives %d matches, brute force %d", r, qi, len(got), len(want))
			}
		}
	}
}

func TestIndexAutoLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var entries []Entry
	entries = append(entries, idxTestData(rng, PDQ, 6000, true)...)
	entries = append(entries, idxTestData(rng, PHash, 6000, true)...)
	x, err := NewIndex(entries)
	if err != nil {
		t.Fatal(err)
	}
	if x.Len() != len(entries) {
		t.Fatalf("Len = %d, want %d", x.Len(), len(entries))
	}
	if got := x.Algorithms(); !slices.Equal(got, []Algorithm{PDQ, PHash}) {
		t.Fatalf("Algorithms = %v", got)
	}
	for _, a := range []Algorithm{PDQ, PHash} {
		var own []Entry
		for _, e := range entries {
			if e.Hash.Algorithm == a {
				own = append(own, e)
			}
		}
		for _, q := range idxTestQueries(rng, a, own, 60) {
			for _, r := range []int{0, 1, a.DefaultMaxDistance() / 2, a.DefaultMaxDistance(), a.DefaultMaxDistance() + 3, 70} {
				if got, want := idxKeys(x.Query(q, r, nil)), idxBrute(entries, q, r); !slices.Equal(got, want) {
					t.Fatalf("%s r=%d: got %d matches, want %d", a, r, len(got), len(want))
				}
			}
		}
	}
}

func TestIndexEntriesAndOrder(t *testing.T) {
	q, _ := ParseHash("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
	near := q
	near.Code[3] ^= 0b111
	entries := []Entry{
		{Hash: near, List: "a", ID: "x-1", Label: "cat", Source: "a.txt"},
		{Hash: q, List: "a", ID: "7", Label: "dog", Source: "a.txt", Time: 1.5},
		{Hash: q, List: "b", ID: "007", Source: "b.csv"},
	}
	x, err := NewIndex(entries)
	if err != nil {
		t.Fatal(err)
	}
	got := x.Query(q, 31, nil)
	if len(got) != 3 {
		t.Fatalf("got %d matches, want 3: %+v", len(got), got)
	}
	if got[0].Distance != 0 || got[1].Distance != 0 || got[2].Distance != 3 {
		t.Fatalf("not nearest first: %+v", got)
	}
	if got[2].Entry != entries[0] {
		t.Errorf("entry = %+v, want %+v", got[2].Entry, entries[0])
	}
	both := []Entry{got[0].Entry, got[1].Entry}
	if !slices.Contains(both, entries[1]) || !slices.Contains(both, entries[2]) {
		t.Errorf("memberships lost: %+v", both)
	}
	// Query appends.
	pre := []Match{{Distance: -1}}
	if out := x.Query(q, 0, pre); len(out) != 3 || out[0].Distance != -1 {
		t.Errorf("Query did not append: %+v", out)
	}
	if out := x.Query(Hash{Algorithm: PHash}, 64, nil); len(out) != 0 {
		t.Errorf("phash query on a pdq index matched %d", len(out))
	}
	if out := x.Query(q, -1, nil); len(out) != 0 {
		t.Errorf("negative radius matched %d", len(out))
	}
}

func TestIndexAllowlist(t *testing.T) {
	known, _ := ParseHash("d1c4a5b6e7f80912")
	black, _ := ParseHash("0000000000000000")
	nearBlack := black
	nearBlack.Code[0] = 0b1011 // distance 3 from black
	x, err := NewIndex([]Entry{
		{Hash: known, List: "csam", ID: "1"},
		{Hash: nearBlack, List: "csam", ID: "2"},
		{Hash: black, List: "benign", ID: "black", Label: "black frame", Allow: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := x.Query(known, 10, nil); len(got) != 1 || got[0].Entry.ID != "1" {
		t.Fatalf("known hash: %+v", got)
	}
	if got := x.Query(black, 10, nil); len(got) != 0 {
		t.Fatalf("allowlisted hash fired: %+v", got)
	}
	var res Result
	x.QueryResult(black, 10, &res)
	if len(res.Matches) != 0 || len(res.Allowed) != 1 || res.Suppressed != 1 || !res.Allowed[0].Entry.Allow || res.Allowed[0].Entry.Label != "black frame" {
		t.Fatalf("result = %+v", res)
	}
	// Out of the allowlist entry's range the list entry fires again.
	x.QueryResult(nearBlack, 2, &res)
	if len(res.Matches) != 1 || len(res.Allowed) != 0 || res.Suppressed != 0 {
		t.Fatalf("result at r=2 = %+v", res)
	}
}

func TestIndexQueryBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	entries := idxTestData(rng, PDQ, 5000, true)
	x := idxTestBuild(t, entries, idxBuildConfig{})
	qs := idxTestQueries(rng, PDQ, entries, 50)
	res := x.QueryBatch(qs, 31, nil)
	if len(res) != len(qs) {
		t.Fatalf("%d results for %d queries", len(res), len(qs))
	}
	for i, q := range qs {
		if res[i].Query != q || !slices.Equal(idxKeys(res[i].Matches), idxKeys(x.Query(q, 31, nil))) {
			t.Fatalf("batch result %d differs from Query", i)
		}
	}
	// Reusing the previous batch must not leak old matches.
	again := x.QueryBatch(qs[:1], 0, res[:0])
	if len(again) != 1 || !slices.Equal(idxKeys(again[0].Matches), idxKeys(x.Query(qs[0], 0, nil))) {
		t.Fatalf("reused batch = %+v", again)
	}
}

// TestIndexConcurrent runs queries from many goroutines; with -race it shows
// an Index needs no locking.
func TestIndexConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	entries := idxTestData(rng, PDQ, 4000, true)
	x := idxTestBuild(t, entries, idxBuildConfig{slots: 11})
	qs := idxTestQueries(rng, PDQ, entries, 40)
	want := make([][]string, len(qs))
	for i, q := range qs {
		want[i] = idxKeys(x.Query(q, 31, nil))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range qs {
				i := (i + g) % len(qs)
				if got := idxKeys(x.Query(qs[i], 31, nil)); !slices.Equal(got, want[i]) {
					errs <- fmt.Errorf("goroutine %d query %d differs", g, i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIndexEmptyAndNil(t *testing.T) {
	x, err := NewIndex(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ParseHash("d1c4a5b6e7f80912")
	if x.Len() != 0 || len(x.Algorithms()) != 0 || len(x.Query(h, 64, nil)) != 0 {
		t.Fatal("empty index not empty")
	}
	var nilx *Index
	if nilx.Len() != 0 || len(nilx.Query(h, 10, nil)) != 0 {
		t.Fatal("nil index not empty")
	}
	var res Result
	nilx.QueryResult(h, 10, &res)
	if _, err := NewIndex([]Entry{{Hash: Hash{Algorithm: 9}}}); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}

func TestIndexIDs(t *testing.T) {
	for _, id := range []string{"", "0", "7", "007", "2147483647", "2147483648", "-1", "abc", "12a", "99999999999"} {
		var b Builder
		h, _ := ParseHash("d1c4a5b6e7f80912")
		if err := b.Add(Entry{Hash: h, ID: id}); err != nil {
			t.Fatal(err)
		}
		x, _ := b.Build()
		if got := x.Query(h, 0, nil); len(got) != 1 || got[0].Entry.ID != id {
			t.Errorf("id %q came back as %+v", id, got)
		}
	}
}

func TestIndexQueryLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	entries := idxTestData(rng, PDQ, 3000, true)
	entries[0].Allow = true
	x := idxTestBuild(t, entries, idxBuildConfig{slots: 11, forceMIH: true})
	for _, q := range idxTestQueries(rng, PDQ, entries, 30) {
		for _, r := range []int{-1, 0, 10, 31, 60} {
			a, b := x.Query(q, r, nil), x.QueryLinear(q, r, nil)
			if !slices.EqualFunc(a, b, func(a, b Match) bool { return a == b }) {
				t.Fatalf("r=%d: Query %d matches, QueryLinear %d", r, len(a), len(b))
			}
		}
	}
}

// A query allocates nothing once warm: its buffers are pooled. (A filter
// handed to the assembly without //go:noescape cost 320 bytes a query
// until this test.)
func TestIndexQueryZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops entries at random; make test runs this without it")
	}
	for _, a := range []Algorithm{PDQ, PHash} {
		rng := rand.New(rand.NewPCG(4, uint64(a)))
		entries := idxTestData(rng, a, 6000, false)
		m := 11
		if a == PHash {
			m = 3
		}
		x := idxTestBuild(t, entries, idxBuildConfig{slots: m, forceMIH: true})
		if x.tables[a].plans[a.DefaultMaxDistance()].linear {
			t.Fatalf("%s: searched by a scan, not the multi-index", a)
		}
		q := Hash{a, idxTestCode(rng, a)}
		dst := x.Query(q, a.DefaultMaxDistance(), nil)
		if n := testing.AllocsPerRun(50, func() { dst = x.Query(q, a.DefaultMaxDistance(), dst[:0]) }); n != 0 {
			t.Errorf("%s: a query allocates %v times", a, n)
		}
	}
}

// TestIdxSortHits: sorting hits as integers orders them by distance, then
// position, as the comparison does, and drops exactly the repeats.
func TestIdxSortHits(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for range 50 {
		hits := make([]idxHit, rng.IntN(300))
		for i := range hits {
			hits[i] = idxHit{pos: uint32(rng.IntN(40)) << uint(rng.IntN(3)*12), dist: int32(rng.IntN(64))}
		}
		want := slices.Clone(hits)
		slices.SortFunc(want, idxHitCmp)
		want = slices.Compact(want)
		n := idxSortHits(hits)
		if !slices.Equal(hits[:n], want) {
			t.Fatalf("sorted %v, want %v", hits[:n], want)
		}
	}
}
