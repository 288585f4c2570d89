package detector

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Benchmarks of the index. Goals (issue 4), per query on one core:
//   - 10M PDQ codes, r=31: median <= 20 us, p99 <= 100 us;
//   - 10M pHash codes, r=8: the same;
//   - each beside the linear scan of the same data.
//
// b.Loop gives means; bench/index runs the 10M cases in a fresh process and
// reports medians, p99, build and load times and resident memory. Here the
// sizes are 100k and 1M; VIGIL_BENCH_10M=1 adds 10M (minutes, ~3 GiB).

func benchSizes() []int {
	sizes := []int{100_000, 1_000_000}
	if os.Getenv("VIGIL_BENCH_10M") != "" {
		sizes = append(sizes, 10_000_000)
	}
	return sizes
}

// benchData makes n codes: uniformly random, or families of near-duplicates
// (up to 20 members within bits/8 of a base) as real lists have.
func benchData(a Algorithm, n int, clustered bool, seed uint64) *Builder {
	rng := rand.New(rand.NewPCG(seed, uint64(a)))
	var b Builder
	for b.Len() < n {
		base := idxTestCode(rng, a)
		members := 1
		if clustered {
			members = 1 + rng.IntN(20)
		}
		for range members {
			c := base
			if clustered {
				for range rng.IntN(a.Bits() / 8) {
					bit := rng.IntN(a.Bits())
					c[bit/64] ^= 1 << uint(63-bit%64)
				}
			}
			_ = b.Add(Entry{Hash: Hash{a, c}, List: "bench", ID: strconv.Itoa(b.Len())})
		}
	}
	return &b
}

// benchQueries mixes misses (random codes) with near hits (a listed code
// moved by up to r/2 bits), the two cases a live node sees.
func benchQueries(x *Index, a Algorithm, r, n int, seed uint64) []Hash {
	rng := rand.New(rand.NewPCG(seed, 99))
	t := x.tables[a]
	qs := make([]Hash, 0, n)
	for i := range n {
		if i%2 == 0 {
			qs = append(qs, Hash{a, idxTestCode(rng, a)})
			continue
		}
		pos := rng.IntN(t.n)
		var c Code
		copy(c[:], t.codes[pos*t.words:(pos+1)*t.words])
		qs = append(qs, Hash{a, idxTestFlip(rng, a, c, rng.IntN(r/2+1))})
	}
	return qs
}

func BenchmarkIndexQuery(b *testing.B) {
	for _, ar := range []struct {
		a Algorithm
		r int
	}{{PDQ, 31}, {PHash, 8}} {
		for _, clustered := range []bool{false, true} {
			data := "random"
			if clustered {
				data = "clustered"
			}
			for _, n := range benchSizes() {
				x, err := benchData(ar.a, n, clustered, 1).Build()
				if err != nil {
					b.Fatal(err)
				}
				qs := benchQueries(x, ar.a, ar.r, 1000, 2)
				name := fmt.Sprintf("%s/%s/n=%d/r=%d", ar.a, data, n, ar.r)
				b.Run(name+"/index", func(b *testing.B) {
					b.ReportAllocs()
					var dst []Match
					i := 0
					for b.Loop() {
						dst = x.Query(qs[i%len(qs)], ar.r, dst[:0])
						i++
					}
				})
				b.Run(name+"/linear", func(b *testing.B) {
					b.ReportAllocs()
					var dst []Match
					i := 0
					for b.Loop() {
						dst = x.QueryLinear(qs[i%len(qs)], ar.r, dst[:0])
						i++
					}
				})
				b.Run(name+"/batch1000", func(b *testing.B) {
					b.ReportAllocs()
					var res []Result
					for b.Loop() {
						res = x.QueryBatch(qs, ar.r, res[:0])
					}
					b.ReportMetric(float64(b.N*len(qs))/b.Elapsed().Seconds(), "queries/s")
				})
			}
		}
	}
}

// BenchmarkIndexBuild measures compiling 1M PDQ entries already parsed.
// Goal: 10M within 60 s including parsing (bench/index measures that).
func BenchmarkIndexBuild(b *testing.B) {
	src := benchData(PDQ, 1_000_000, false, 3)
	codes := src.tables[PDQ].codes
	b.ReportAllocs()
	for b.Loop() {
		var bb Builder
		for i := range 1_000_000 {
			var c Code
			copy(c[:], codes[i*4:i*4+4])
			_ = bb.Add(Entry{Hash: Hash{PDQ, c}, List: "bench", ID: strconv.Itoa(i)})
		}
		if _, err := bb.Build(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseIndex measures loading a compiled 1M PDQ index from memory:
// checksum, bounds checks and plans. Goal: 10M within 5 s from a file.
func BenchmarkParseIndex(b *testing.B) {
	x, err := benchData(PDQ, 1_000_000, false, 4).Build()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	data := idxAlignedBytes(buf.Len())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		// ParseIndex owns and rewrites what it parses.
		b.StopTimer()
		copy(data, buf.Bytes())
		b.StartTimer()
		if _, err := ParseIndex(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadListHex measures parsing a hex list, the bulk of a build.
func BenchmarkReadListHex(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var sb strings.Builder
	for range 100_000 {
		sb.WriteString(Hash{PDQ, idxTestCode(rng, PDQ)}.String())
		sb.WriteString(",label\n")
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := ReadList(strings.NewReader(in), ListOptions{Source: "b"}, func(Entry) error { return nil })
		if err != nil || st.Entries != 100_000 {
			b.Fatal(st, err)
		}
	}
}
