package detector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIndexTagWidths: an index with few tags keeps one byte an entry, one
// with more than 256 two, more than 65,536 four; each answers with every
// entry's own list, label and source, built and after a round trip through
// the file format.
func TestIndexTagWidths(t *testing.T) {
	for _, c := range []struct{ labels, width int }{{3, 1}, {256, 1}, {257, 2}, {70_000, 4}} {
		rng := rand.New(rand.NewPCG(uint64(c.labels), 1))
		var entries []Entry
		for i := range max(c.labels, 2000) {
			e := Entry{Hash: Hash{PHash, idxTestCode(rng, PHash)}, List: "l", ID: fmt.Sprint(i),
				Label: fmt.Sprintf("label-%d", i%c.labels), Source: "s"}
			entries = append(entries, e)
		}
		x := idxTestBuild(t, entries, idxBuildConfig{})
		y, err := ParseIndex(fileBytes(t, x))
		if err != nil {
			t.Fatalf("%d labels: %v", c.labels, err)
		}
		if !bytes.Equal(fileBytes(t, x), fileBytes(t, y)) {
			t.Fatalf("%d labels: rewritten file differs", c.labels)
		}
		for _, ix := range []*Index{x, y} {
			tab := ix.tables[PHash]
			if tab.tags.width != c.width || len(tab.tags.b) != c.width*tab.n {
				t.Fatalf("%d labels: tags of %d bytes (%d in all), want %d", c.labels, tab.tags.width, len(tab.tags.b), c.width)
			}
			for i := 0; i < len(entries); i += 97 {
				ms := ix.Query(entries[i].Hash, 0, nil)
				found := false
				for _, m := range ms {
					found = found || m.Entry.ID == entries[i].ID
					if m.Entry.ID == entries[i].ID && (m.Entry.Label != entries[i].Label || m.Entry.List != "l" || m.Entry.Source != "s") {
						t.Fatalf("%d labels: entry %s answers %+v", c.labels, entries[i].ID, m.Entry)
					}
				}
				if !found {
					t.Fatalf("%d labels: entry %s not found", c.labels, entries[i].ID)
				}
			}
		}
	}
}

// TestIndexTagWidthCorrupt: a table header naming a tag width other than
// 1, 2 or 4 is refused as corrupt, not read.
func TestIndexTagWidthCorrupt(t *testing.T) {
	x, _ := fileTestIndex(t, 300, idxBuildConfig{})
	data := fileBytes(t, x)
	off := idxHeaderSize
	for _, s := range x.fileSections()[:4] { // strings, blob, tags, ids
		off += len(s) + idxPad(len(s))
	}
	if data[off+4] != 1 {
		t.Fatalf("table header at %d: tag width %d, want 1", off, data[off+4])
	}
	data[off+4] = 3
	binary.LittleEndian.PutUint32(data[24:], crc32.Checksum(data[idxHeaderSize:], idxCRC))
	_, err := ParseIndex(data)
	if !errors.Is(err, ErrIndexCorrupt) || !strings.Contains(err.Error(), "tags of 3 bytes") {
		t.Fatalf("tag width 3: %v", err)
	}
}
