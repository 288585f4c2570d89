package detector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func fileTestIndex(t testing.TB, n int, cfg idxBuildConfig) (*Index, []Entry) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	entries := idxTestData(rng, PDQ, n, true)
	entries = append(entries, idxTestData(rng, PHash, n, true)...)
	entries[3].Allow = true
	entries[4].ID = strings.Repeat("long-id-", 40)
	return idxTestBuild(t, entries, cfg), entries
}

func fileBytes(t testing.TB, x *Index) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := x.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v (wrote %d)", n, err, buf.Len())
	}
	return buf.Bytes()
}

// TestIndexFileRoundTrip writes and reloads indexes of every shape and checks
// the loaded one answers every query exactly as the built one did.
func TestIndexFileRoundTrip(t *testing.T) {
	for _, cfg := range []idxBuildConfig{{}, {slots: -1}, {slots: 11}, {slots: 16}} {
		x, entries := fileTestIndex(t, 3000, cfg)
		dir := t.TempDir()
		path := filepath.Join(dir, "known.vidx")
		if err := x.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		y, err := LoadIndex(path)
		if err != nil {
			t.Fatalf("slots=%d: %v", cfg.slots, err)
		}
		if y.Len() != x.Len() || !slices.Equal(y.Algorithms(), x.Algorithms()) {
			t.Fatalf("loaded %d entries of %v, built %d of %v", y.Len(), y.Algorithms(), x.Len(), x.Algorithms())
		}
		rng := rand.New(rand.NewPCG(9, uint64(cfg.slots+10)))
		for _, a := range []Algorithm{PDQ, PHash} {
			for _, q := range idxTestQueries(rng, a, entries[:3000], 30) {
				var rx, ry Result
				x.QueryResult(q, a.DefaultMaxDistance(), &rx)
				y.QueryResult(q, a.DefaultMaxDistance(), &ry)
				if !slices.EqualFunc(rx.Matches, ry.Matches, func(a, b Match) bool { return a == b }) ||
					!slices.EqualFunc(rx.Allowed, ry.Allowed, func(a, b Match) bool { return a == b }) {
					t.Fatalf("slots=%d: loaded index answers %s differently", cfg.slots, q)
				}
			}
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
			t.Fatalf("mode %v, %v", fi.Mode(), err)
		}
		// The file leaves no temporary behind.
		if des, _ := os.ReadDir(dir); len(des) != 1 {
			t.Fatalf("directory holds %d files", len(des))
		}
		// Writing the loaded index gives the same bytes.
		if !bytes.Equal(fileBytes(t, x), fileBytes(t, y)) {
			t.Fatal("rewritten file differs")
		}
	}
}

func TestIndexFileEmpty(t *testing.T) {
	for _, x := range []*Index{nil, {}} {
		y, err := ParseIndex(fileBytes(t, x))
		if err != nil || y.Len() != 0 {
			t.Fatalf("empty index: %v, %v", y, err)
		}
	}
	x, _ := NewIndex(nil)
	if _, err := ParseIndex(fileBytes(t, x)); err != nil {
		t.Fatal(err)
	}
}

func TestIndexFileRefused(t *testing.T) {
	x, _ := fileTestIndex(t, 300, idxBuildConfig{slots: 8})
	good := fileBytes(t, x)
	le := binary.LittleEndian

	newer := bytes.Clone(good)
	le.PutUint32(newer[8:], IndexVersion+1)
	_, err := ParseIndex(newer)
	if !errors.Is(err, ErrIndexVersion) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", IndexVersion+1)) {
		t.Errorf("newer version: %v", err)
	}
	older := bytes.Clone(good)
	le.PutUint32(older[8:], IndexVersion-1)
	_, err = ParseIndex(older)
	if !errors.Is(err, ErrIndexVersion) || !strings.Contains(err.Error(), "rebuild") {
		t.Errorf("older version: %v", err)
	}
	for _, cut := range []int{0, 5, 11, 40, 64, 100, len(good) / 2, len(good) - 1} {
		_, err := ParseIndex(good[:cut])
		if !errors.Is(err, ErrIndexCorrupt) {
			t.Errorf("cut at %d: %v", cut, err)
		}
		if cut > 64 && !strings.Contains(err.Error(), "truncated") {
			t.Errorf("cut at %d: %v, want truncated", cut, err)
		}
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-3] ^= 0x10
	if _, err := ParseIndex(flipped); !errors.Is(err, ErrIndexCorrupt) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("flipped bit: %v", err)
	}
	if _, err := ParseIndex(append(bytes.Clone(good), 0)); !errors.Is(err, ErrIndexCorrupt) {
		t.Errorf("trailing byte: %v", err)
	}
	// A consistent checksum over a broken structure is still refused.
	forged := bytes.Clone(good)
	le.PutUint64(forged[32:], 5)
	le.PutUint32(forged[24:], crc32.Checksum(forged[idxHeaderSize:], idxCRC))
	if _, err := ParseIndex(forged); !errors.Is(err, ErrIndexCorrupt) {
		t.Errorf("forged count: %v", err)
	}
	// Through LoadIndex the error names the file.
	path := filepath.Join(t.TempDir(), "idx")
	if err := os.WriteFile(path, good[:len(good)-8], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIndex(path); !errors.Is(err, ErrIndexCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadIndex truncated: %v", err)
	}
	if err := os.WriteFile(path, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIndex(path); !errors.Is(err, ErrIndexVersion) {
		t.Errorf("LoadIndex newer: %v", err)
	}
}

func TestIndexFileUnaligned(t *testing.T) {
	x, _ := fileTestIndex(t, 500, idxBuildConfig{slots: 11})
	good := fileBytes(t, x)
	odd := make([]byte, len(good)+1)[1:]
	copy(odd, good)
	y, err := ParseIndex(odd)
	if err != nil || y.Len() != x.Len() {
		t.Fatalf("unaligned: %v", err)
	}
}

func TestLoadIndexList(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(path, []byte("d1c4a5b6e7f80912,cat\nbad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x, rep, err := LoadIndexReport(path, ListOptions{})
	if err != nil || rep.Compiled || rep.List.Entries != 1 || rep.List.Skipped != 1 || x.Len() != 1 {
		t.Fatalf("list: %v %+v %v", x, rep, err)
	}
	h, _ := ParseHash("d1c4a5b6e7f80912")
	if m := x.Query(h, 0, nil); len(m) != 1 || m[0].Entry.List != "list" || m[0].Entry.Source != path {
		t.Fatalf("matches = %+v", m)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if x, err := LoadIndex(empty); err != nil || x.Len() != 0 {
		t.Fatalf("empty list: %v, %v", x, err)
	}
	png := filepath.Join(dir, "cat.png")
	if err := os.WriteFile(png, []byte("\x89PNG\r\n\x1a\n0000"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIndex(png); !errors.Is(err, ErrMediaSource) {
		t.Fatalf("png: %v", err)
	}
	if _, err := LoadIndex(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte(IndexMagic+"\x01\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIndex(short); !errors.Is(err, ErrIndexCorrupt) {
		t.Fatalf("short: %v", err)
	}
}

// FuzzParseIndex feeds the loader arbitrary files. With fixCRC the checksum
// is recomputed so the fuzzer reaches the structure checks behind it; no
// input may panic, and an index that loads must answer queries.
func FuzzParseIndex(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input, and minimising a
	// large one takes it minutes.
	x, _ := fileTestIndex(f, 6, idxBuildConfig{})
	f.Add(fileBytes(f, x), false)
	y, _ := fileTestIndex(f, 6, idxBuildConfig{slots: 8})
	f.Add(fileBytes(f, y), true)
	f.Add([]byte(IndexMagic), false)
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		// ParseIndex owns what it is given, and may rewrite it.
		data = bytes.Clone(data)
		if fixCRC && len(data) >= idxHeaderSize {
			binary.LittleEndian.PutUint32(data[24:], crc32.Checksum(data[idxHeaderSize:], idxCRC))
		}
		x, err := ParseIndex(data)
		if err != nil {
			if !errors.Is(err, ErrIndexCorrupt) && !errors.Is(err, ErrIndexVersion) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		for _, a := range x.Algorithms() {
			var res Result
			for _, r := range []int{0, 3, a.DefaultMaxDistance(), a.Bits()} {
				x.QueryResult(Hash{Algorithm: a}, r, &res)
				x.QueryResult(Hash{Algorithm: a, Code: Code{^uint64(0), 1, 2, 3}}, r, &res)
			}
		}
		_ = x.Stats()
		var buf bytes.Buffer
		if _, err := x.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIndexStats(t *testing.T) {
	var b Builder
	pdq, _ := ParseHash(fmtPDQ1)
	ph, _ := ParseHash(fmtPH1)
	for i, e := range []Entry{
		{Hash: pdq, List: "a", Source: "a.txt"},
		{Hash: pdq, List: "a", Source: "a.txt", Label: "x"},
		{Hash: ph, List: "b", Source: "b.csv"},
		{Hash: ph, List: "ok", Source: "ok.txt", Allow: true},
	} {
		if err := b.Add(e); err != nil {
			t.Fatal(i, err)
		}
	}
	x, _ := b.Build()
	st := x.Stats()
	want := []ListSummary{
		{List: "a", Source: "a.txt", Algorithm: PDQ, Entries: 2},
		{List: "b", Source: "b.csv", Algorithm: PHash, Entries: 1},
		{List: "ok", Source: "ok.txt", Algorithm: PHash, Allow: true, Entries: 1},
	}
	if st.Entries != 4 || st.Allowlisted != 1 || !slices.Equal(st.Lists, want) || len(st.Tables) != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if st.Tables[0].LinearFrom != 0 || len(st.Tables[0].SlotBits) != 0 || st.Tables[0].Bytes == 0 {
		t.Errorf("small table = %+v", st.Tables[0])
	}
	// The cost model picks the multi-index from a few ten thousand PDQ codes.
	rng := rand.New(rand.NewPCG(1, 1))
	y := idxTestBuild(t, idxTestData(rng, PDQ, 30000, false), idxBuildConfig{})
	if ts := y.Stats().Tables[0]; len(ts.SlotBits) == 0 || ts.LinearFrom <= PDQ.DefaultMaxDistance() {
		t.Errorf("30000-entry table = %+v", ts)
	}
}

// TestIndexFileCellsBound: cells are sized by their coarse bits, not by
// anything in the file, so a file asking for more buckets than its entries
// justify is refused before anything is allocated: every slot of a one-word
// table, every slot after the first of a PDQ table.
func TestIndexFileCellsBound(t *testing.T) {
	for _, tc := range []struct {
		a           Algorithm
		m, slot, at int
		width       byte
	}{{PHash, 3, 0, 0, 22}, {PDQ, 11, 1, 11, 27}} {
		rng := rand.New(rand.NewPCG(9, 9))
		x := idxTestBuild(t, idxTestData(rng, tc.a, 3000, false), idxBuildConfig{slots: tc.m})
		good := fileBytes(t, x)
		if _, err := ParseIndex(bytes.Clone(good)); err != nil {
			t.Fatal(err)
		}
		// Sections: strings offsets, blob, tags, id blob, table header, slot
		// headers; each padded to idxAlign.
		off := idxHeaderSize
		for _, s := range x.fileSections()[:5] {
			off += len(s) + idxPad(len(s))
		}
		off += 8 * tc.slot
		le := binary.LittleEndian
		if start, width := le.Uint16(good[off:]), good[off+2]; int(start) != tc.at || width != tc.width {
			t.Fatalf("%s slot %d header at %d: start %d width %d", tc.a, tc.slot, off, start, width)
		}
		forged := bytes.Clone(good)
		forged[off+3] = 22 // 4M buckets, 256 MiB of cells, for 3,000 entries
		le.PutUint32(forged[24:], crc32.Checksum(forged[idxHeaderSize:], idxCRC))
		_, err := ParseIndex(forged)
		if !errors.Is(err, ErrIndexCorrupt) || !strings.Contains(err.Error(), "coarse bits") {
			t.Fatalf("%s forged coarse bits: %v", tc.a, err)
		}
	}
}
