package detector

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"unsafe"
)

// The compiled index file, version 1. All integers are little-endian.
//
//	header, 64 bytes:
//	  0  magic "VIGILIDX"
//	  8  u32 format version (IndexVersion)
//	 12  u32 header size (64)
//	 16  u64 body size in bytes
//	 24  u32 CRC-32C (Castagnoli) of the body
//	 28  u32 flags (0)
//	 32  u64 entries
//	 40  u32 tables (one per algorithm)
//	 44  u32 strings
//	 48  u32 tags
//	 52  u32 reserved (0)
//	 56  u64 id blob bytes
//	body, every section starting on a 64-byte boundary, zero padded:
//	  string offsets  u32 x (strings+1); string k is blob[off[k]:off[k+1]]
//	  string blob     list names, sources and labels
//	  tags            (list, source, label, flags) u32 x 4 x tags
//	  id blob         uvarint-length-prefixed ids that are not small numbers
//	  per table:
//	    table header  u8 algorithm, u8 slots, u8 position bits, u8 has times,
//	                  u8 tag width (1, 2 or 4), u8 x 3 reserved, u64 entries
//	    slot headers  per slot u16 first bit, u8 width, u8 coarse bits,
//	                  u32 reserved
//	    codes         u64 x words x entries, ordered by slot-0 substring
//	    tags          u8, u16 or u32 (the tag width) x entries
//	    id references u32 x entries (bit 31: the id is the number itself)
//	    times         f64 x entries, when has times
//	    slot 0        offsets u32 x (2^coarse+1), for multi-word (PDQ) tables
//	                  only, in key order (the loader packs them into heads
//	                  in place); the other slots' posting cells, and every slot's
//	                  cells of a one-word (pHash) table, are built from the
//	                  codes on load
//
// The body is laid out as the index is in memory, so loading is one read, a
// checksum and bounds checks; on a little-endian host the columns are used in
// place.

// IndexMagic starts every compiled index file.
const IndexMagic = "VIGILIDX"

// IndexVersion is the index file version this package reads and writes.
// Version 2 dropped the offsets and postings of one-word tables, version 3
// the postings and offsets of every slot after the first of multi-word
// tables, version 4 narrowed the entry tags to the bytes the tag count
// needs; older files are refused with a request to rebuild.
const IndexVersion = 4

const idxHeaderSize = 64

var idxCRC = crc32.MakeTable(crc32.Castagnoli)

var idxLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// idxHeader is the decoded file header.
type idxHeader struct {
	version  uint32
	bodySize uint64
	crc      uint32
	entries  uint64
	tables   uint32
	strings  uint32
	tags     uint32
	idBlob   uint64
}

// WriteTo writes the index in the compiled file format.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	if x == nil {
		x = &Index{}
	}
	sections := x.fileSections()
	var body uint64
	crc := uint32(0)
	var pad [idxAlign]byte
	for _, s := range sections {
		crc = crc32.Update(crc, idxCRC, s)
		body += uint64(len(s))
		if p := idxPad(len(s)); p > 0 {
			crc = crc32.Update(crc, idxCRC, pad[:p])
			body += uint64(p)
		}
	}
	hdr := make([]byte, idxHeaderSize)
	copy(hdr, IndexMagic)
	le := binary.LittleEndian
	le.PutUint32(hdr[8:], IndexVersion)
	le.PutUint32(hdr[12:], idxHeaderSize)
	le.PutUint64(hdr[16:], body)
	le.PutUint32(hdr[24:], crc)
	le.PutUint64(hdr[32:], uint64(x.n))
	le.PutUint32(hdr[40:], uint32(x.tableCount()))
	le.PutUint32(hdr[44:], uint32(max(len(x.strOff)-1, 0)))
	le.PutUint32(hdr[48:], uint32(len(x.tags)))
	le.PutUint64(hdr[56:], uint64(len(x.idBlob)))
	n, err := w.Write(hdr)
	total := int64(n)
	if err != nil {
		return total, fmt.Errorf("index: write header: %w", err)
	}
	for _, s := range sections {
		n, err = w.Write(s)
		total += int64(n)
		if err == nil && idxPad(len(s)) > 0 {
			n, err = w.Write(pad[:idxPad(len(s))])
			total += int64(n)
		}
		if err != nil {
			return total, fmt.Errorf("index: write body: %w", err)
		}
	}
	return total, nil
}

// idxAlign is the alignment of every section. A cache line, not just the
// word size: a 32-byte code that straddles two lines costs two misses, and
// measured at 10M PDQ codes that made an index loaded from a file (sections
// 8-byte aligned) half again slower than the same index built in memory.
const idxAlign = 64

func idxPad(n int) int { return (idxAlign - n%idxAlign) % idxAlign }

func (x *Index) tableCount() int {
	c := 0
	for _, t := range x.tables {
		if t != nil {
			c++
		}
	}
	return c
}

// fileSections lists the body's sections in order, as byte views of the
// index's columns (copies on a big-endian host).
func (x *Index) fileSections() [][]byte {
	strOff := x.strOff
	if len(strOff) == 0 {
		strOff = []uint32{0}
	}
	tags := make([]uint32, 0, 4*len(x.tags))
	for _, tg := range x.tags {
		tags = append(tags, tg.list, tg.source, tg.label, tg.flags)
	}
	out := [][]byte{idxBytes(strOff), []byte(x.strBlob), idxBytes(tags), []byte(x.idBlob)}
	for _, t := range x.tables {
		if t == nil {
			continue
		}
		th := make([]byte, 16+8*len(t.slots))
		th[0] = byte(t.algo)
		th[1] = byte(len(t.slots))
		th[2] = byte(t.idBits)
		if t.times != nil {
			th[3] = 1
		}
		th[4] = byte(t.tags.width)
		binary.LittleEndian.PutUint64(th[8:], uint64(t.n))
		for k, s := range t.slots {
			binary.LittleEndian.PutUint16(th[16+8*k:], uint16(s.start))
			th[16+8*k+2] = byte(s.width)
			th[16+8*k+3] = byte(s.coarse)
		}
		// Header and slot headers are two sections, as the reader takes
		// them: it learns the slot count from the first.
		out = append(out, th[:16], th[16:], idxBytes(t.codes), t.tags.b, idxBytes(t.ids))
		if t.times != nil {
			out = append(out, idxBytes(t.times))
		}
		if t.words > 1 && len(t.slots) > 0 {
			out = append(out, idxBytes(t.mihOffsets0()))
		}
	}
	return out
}

// idxBytes returns the little-endian bytes of a numeric column: a view of it
// on a little-endian host, a copy otherwise.
func idxBytes[T uint32 | uint64 | float64](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(s[0]))
	if idxLittleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*size)
	}
	out := make([]byte, len(s)*size)
	for i, v := range s {
		switch v := any(v).(type) {
		case uint32:
			binary.LittleEndian.PutUint32(out[i*4:], v)
		case uint64:
			binary.LittleEndian.PutUint64(out[i*8:], v)
		case float64:
			binary.LittleEndian.PutUint64(out[i*8:], math.Float64bits(v))
		}
	}
	return out
}

// WriteFile writes the compiled index to path atomically: to a temporary
// file in the same directory, synced, then renamed over path, so a node
// watching path never loads half a file.
func (x *Index) WriteFile(path string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("index %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err = x.WriteTo(bw); err != nil {
		return fmt.Errorf("index %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("index %s: %w", path, err)
	}
	// CreateTemp makes the file private; an index holds hashes and list
	// names, not material, and the node may run as another user.
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("index %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("index %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("index %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("index %s: %w", path, err)
	}
	return nil
}

// IsCompiledIndex reports whether data starts like a compiled index file.
func IsCompiledIndex(data []byte) bool { return bytes.HasPrefix(data, []byte(IndexMagic)) }

func idxParseHeader(b []byte) (idxHeader, error) {
	var h idxHeader
	if len(b) < len(IndexMagic) || !IsCompiledIndex(b) {
		return h, fmt.Errorf("%w: no %s magic", ErrIndexCorrupt, IndexMagic)
	}
	if len(b) < 12 {
		return h, fmt.Errorf("%w: truncated header", ErrIndexCorrupt)
	}
	le := binary.LittleEndian
	h.version = le.Uint32(b[8:])
	// The version is checked before anything else a newer format may lay
	// out differently.
	if h.version > IndexVersion {
		return h, fmt.Errorf("%w: file is version %d, this build reads up to version %d", ErrIndexVersion, h.version, IndexVersion)
	}
	if h.version < IndexVersion {
		return h, fmt.Errorf("%w: file is version %d, this build reads version %d: rebuild it with vigil index build", ErrIndexVersion, h.version, IndexVersion)
	}
	if h.version == 0 {
		return h, fmt.Errorf("%w: version 0", ErrIndexCorrupt)
	}
	if len(b) < idxHeaderSize {
		return h, fmt.Errorf("%w: truncated header: %d of %d bytes", ErrIndexCorrupt, len(b), idxHeaderSize)
	}
	if hs := le.Uint32(b[12:]); hs != idxHeaderSize {
		return h, fmt.Errorf("%w: header size %d, want %d", ErrIndexCorrupt, hs, idxHeaderSize)
	}
	h.bodySize = le.Uint64(b[16:])
	h.crc = le.Uint32(b[24:])
	if flags := le.Uint32(b[28:]); flags != 0 {
		return h, fmt.Errorf("%w: unknown flags %#x", ErrIndexCorrupt, flags)
	}
	h.entries = le.Uint64(b[32:])
	h.tables = le.Uint32(b[40:])
	h.strings = le.Uint32(b[44:])
	h.tags = le.Uint32(b[48:])
	h.idBlob = le.Uint64(b[56:])
	return h, nil
}

// idxCheckSize compares the file's size with the header's.
func idxCheckSize(h idxHeader, size uint64) error {
	if h.bodySize > math.MaxInt-idxHeaderSize {
		return fmt.Errorf("%w: body of %d bytes", ErrIndexCorrupt, h.bodySize)
	}
	want := uint64(idxHeaderSize) + h.bodySize
	switch {
	case size < want:
		return fmt.Errorf("%w: truncated: %d bytes, header says %d", ErrIndexCorrupt, size, want)
	case size > want:
		return fmt.Errorf("%w: %d bytes after the body", ErrIndexCorrupt, size-want)
	}
	return nil
}

// ParseIndex decodes a compiled index file held in data. On a little-endian
// host the index uses data in place and rewrites part of it (slot 0's bucket
// bounds are packed where they lie, index_heads.go): data belongs to the
// index from then on, and the caller must neither change nor read it.
// A truncated file, a failed checksum or inconsistent counts give
// ErrIndexCorrupt; a newer format version gives ErrIndexVersion.
func ParseIndex(data []byte) (*Index, error) {
	h, err := idxParseHeader(data)
	if err != nil {
		return nil, err
	}
	if err := idxCheckSize(h, uint64(len(data))); err != nil {
		return nil, err
	}
	body := data[idxHeaderSize:]
	if got := crc32.Checksum(body, idxCRC); got != h.crc {
		return nil, fmt.Errorf("%w: checksum %08x, header says %08x", ErrIndexCorrupt, got, h.crc)
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(body)))%idxAlign != 0 {
		// Columns are used in place and need their alignment.
		aligned := idxAlignedBytes(len(body))
		copy(aligned, body)
		body = aligned
	}
	x, err := idxDecodeBody(h, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIndexCorrupt, err)
	}
	return x, nil
}

// Arrays of at least idxHugeMin bytes (the codes, the cells) start on a
// 2 MiB boundary and are advised onto transparent huge pages, where the
// kernel allows it: a query's thousands of misses at random places then
// cost no page walks. Measured (2,110 random lines prefetched 64 ahead):
// 11.1 us on 4 KiB pages, 7.5 us on huge pages.
const (
	idxHugeMin  = 8 << 20
	idxHugePage = 2 << 20
)

// idxAlignedBytes allocates n zeroed bytes on an idxAlign boundary, or on
// a huge-page boundary, advised, from idxHugeMin bytes.
func idxAlignedBytes(n int) []byte {
	if n == 0 {
		return nil
	}
	align := idxAlign
	if n >= idxHugeMin {
		align = idxHugePage
	}
	words := make([]uint64, (n+2*align)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)
	skip := (align - int(uintptr(unsafe.Pointer(&b[0]))%uintptr(align))) % align
	if align == idxHugePage {
		// Advised before the first write, so that faults take huge pages.
		idxAdviseHuge(b[skip:min(len(b), skip+(n+align-1)/align*align)])
	}
	return b[skip : skip+n : skip+n]
}

// idxAlignedUint64s allocates n zeroed uint64s as idxAlignedBytes does.
func idxAlignedUint64s(n int) []uint64 {
	if n == 0 {
		return nil
	}
	b := idxAlignedBytes(8 * n)
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// idxCursor walks the body section by section with bounds checks.
type idxCursor struct {
	b   []byte
	off int
}

func (c *idxCursor) take(n uint64, what string) ([]byte, error) {
	if n > uint64(len(c.b)-c.off) {
		return nil, fmt.Errorf("%s: %d bytes past the end of the body", what, n-uint64(len(c.b)-c.off))
	}
	s := c.b[c.off : c.off+int(n)]
	c.off += int(n)
	c.off += min(idxPad(int(n)), len(c.b)-c.off)
	return s, nil
}

func idxTakeCol[T uint32 | uint64 | float64](c *idxCursor, count uint64, what string) ([]T, error) {
	var zero T
	size := uint64(unsafe.Sizeof(zero))
	if count > math.MaxInt/size {
		return nil, fmt.Errorf("%s: %d items", what, count)
	}
	b, err := c.take(count*size, what)
	if err != nil || count == 0 {
		return nil, err
	}
	if idxLittleEndian {
		return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), count), nil
	}
	out := make([]T, count)
	for i := range out {
		switch p := any(&out[i]).(type) {
		case *uint32:
			*p = binary.LittleEndian.Uint32(b[i*4:])
		case *uint64:
			*p = binary.LittleEndian.Uint64(b[i*8:])
		case *float64:
			*p = math.Float64frombits(binary.LittleEndian.Uint64(b[i*8:]))
		}
	}
	return out, nil
}

func idxString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// idxDecodeBody builds an Index over body and checks everything a query
// could index with, so that no file, however forged, makes a query panic.
// The checksum, not these checks, is what catches a corrupted file whose
// structure still holds.
func idxDecodeBody(h idxHeader, body []byte) (*Index, error) {
	if h.entries > idxMaxEntries || h.strings >= idxNumericID || h.tags > idxMaxEntries || h.tables >= idxAlgoSlots {
		return nil, fmt.Errorf("counts out of range: %d entries, %d strings, %d tags, %d tables", h.entries, h.strings, h.tags, h.tables)
	}
	c := &idxCursor{b: body}
	x := &Index{n: int(h.entries)}
	var err error
	if x.strOff, err = idxTakeCol[uint32](c, uint64(h.strings)+1, "string offsets"); err != nil {
		return nil, err
	}
	for i := 1; i < len(x.strOff); i++ {
		if x.strOff[i] < x.strOff[i-1] {
			return nil, fmt.Errorf("string offsets decrease at %d", i)
		}
	}
	if x.strOff[0] != 0 {
		return nil, errors.New("string offsets do not start at 0")
	}
	blob, err := c.take(uint64(x.strOff[len(x.strOff)-1]), "string blob")
	if err != nil {
		return nil, err
	}
	x.strBlob = idxString(blob)
	rawTags, err := idxTakeCol[uint32](c, uint64(h.tags)*4, "tags")
	if err != nil {
		return nil, err
	}
	if len(rawTags) > 0 {
		x.tags = unsafe.Slice((*idxTag)(unsafe.Pointer(unsafe.SliceData(rawTags))), h.tags)
	}
	for i, tg := range x.tags {
		if tg.list >= h.strings || tg.source >= h.strings || tg.label >= h.strings || tg.flags&^idxTagAllow != 0 {
			return nil, fmt.Errorf("tag %d out of range", i)
		}
	}
	if h.idBlob >= idxNumericID {
		return nil, fmt.Errorf("id blob of %d bytes", h.idBlob)
	}
	ids, err := c.take(h.idBlob, "id blob")
	if err != nil {
		return nil, err
	}
	x.idBlob = idxString(ids)
	var total uint64
	for range h.tables {
		t, err := idxDecodeTable(c, x, h)
		if err != nil {
			return nil, err
		}
		if x.tables[t.algo] != nil {
			return nil, fmt.Errorf("two %s tables", t.algo)
		}
		x.tables[t.algo] = t
		total += uint64(t.n)
	}
	if total != h.entries {
		return nil, fmt.Errorf("tables hold %d entries, header says %d", total, h.entries)
	}
	if c.off != len(c.b) {
		return nil, fmt.Errorf("%d bytes after the last table", len(c.b)-c.off)
	}
	return x, nil
}

func idxDecodeTable(c *idxCursor, x *Index, h idxHeader) (*idxTable, error) {
	th, err := c.take(16, "table header")
	if err != nil {
		return nil, err
	}
	a := Algorithm(th[0])
	if a.Bits() == 0 || int(a) >= idxAlgoSlots {
		return nil, fmt.Errorf("table of %s", a)
	}
	m := int(th[1])
	n64 := binary.LittleEndian.Uint64(th[8:])
	if n64 == 0 || n64 > h.entries {
		return nil, fmt.Errorf("%s table of %d entries", a, n64)
	}
	n := int(n64)
	t := &idxTable{algo: a, words: a.Bits() / 64, n: n, idBits: uint(th[2])}
	if want := uint(max(1, bits.Len32(uint32(n-1)))); t.idBits != want {
		return nil, fmt.Errorf("%s table: %d position bits, want %d", a, t.idBits, want)
	}
	if th[3] > 1 || m > mihMaxSlots {
		return nil, fmt.Errorf("%s table header", a)
	}
	sh, err := c.take(uint64(8*m), "slot headers")
	if err != nil {
		return nil, err
	}
	start := 0
	for k := range m {
		s := mihSlot{
			start:  int(binary.LittleEndian.Uint16(sh[8*k:])),
			width:  int(sh[8*k+2]),
			coarse: int(sh[8*k+3]),
		}
		if s.start != start || s.width < 1 || s.width > 32 || s.coarse < 1 || s.coarse > s.width ||
			s.coarse > 30 || s.width-s.coarse > 32-int(t.idBits) {
			return nil, fmt.Errorf("%s slot %d layout", a, k)
		}
		start += s.width
		t.slots = append(t.slots, s)
	}
	if m > 0 && start != a.Bits() {
		return nil, fmt.Errorf("%s slots cover %d bits", a, start)
	}
	// Cells take 64 bytes a bucket and are built on load: a file whose
	// layout asks for more buckets than any layout here has is corrupt, not
	// big, and is refused before anything is allocated.
	for k, s := range t.slots {
		var most int
		switch {
		case t.words == 1:
			most = max(2*n, 1<<10)
		case k > 0:
			most = mihMaxBuckets(n, s.width, t.idBits)
		default:
			continue
		}
		if 1<<uint(s.coarse) > most {
			return nil, fmt.Errorf("%s slot %d: %d coarse bits for %d entries", a, k, s.coarse, n)
		}
	}
	if t.codes, err = idxTakeCol[uint64](c, uint64(n*t.words), "codes"); err != nil {
		return nil, err
	}
	t.tags.width = int(th[4])
	if t.tags.width != 1 && t.tags.width != 2 && t.tags.width != 4 {
		return nil, fmt.Errorf("%s table: tags of %d bytes", a, t.tags.width)
	}
	if t.tags.b, err = c.take(n64*uint64(t.tags.width), "entry tags"); err != nil {
		return nil, err
	}
	for i := range uint32(n) {
		if tg := t.tags.at(i); tg >= uint32(len(x.tags)) {
			return nil, fmt.Errorf("%s entry %d: tag %d out of range", a, i, tg)
		}
	}
	if t.ids, err = idxTakeCol[uint32](c, n64, "id references"); err != nil {
		return nil, err
	}
	for i, ref := range t.ids {
		if ref&idxNumericID != 0 {
			continue
		}
		if int(ref) >= len(x.idBlob) {
			return nil, fmt.Errorf("%s entry %d: id out of range", a, i)
		}
		l, w := idxUvarint(x.idBlob[ref:])
		if w == 0 || l > uint64(len(x.idBlob)-int(ref)-w) {
			return nil, fmt.Errorf("%s entry %d: id out of range", a, i)
		}
	}
	if th[3] == 1 {
		if t.times, err = idxTakeCol[float64](c, n64, "times"); err != nil {
			return nil, err
		}
	}
	if t.words > 1 && m > 0 {
		s := &t.slots[0]
		off, err := idxTakeCol[uint32](c, uint64(1)<<uint(s.coarse)+1, "offsets")
		if err != nil {
			return nil, err
		}
		if off[0] != 0 || off[len(off)-1] != uint32(n) {
			return nil, fmt.Errorf("%s slot 0 offsets do not span the table", a)
		}
		for i := 1; i < len(off); i++ {
			if off[i] < off[i-1] {
				return nil, fmt.Errorf("%s slot 0 offsets decrease", a)
			}
		}
		// Packed in place: the column is the loader's own copy.
		s.mihPackHeads(off, t.idBits)
	}
	t.mihBuildCells()
	t.mihBuildPostCells()
	t.mihPrepare(false)
	return t, nil
}

// LoadReport says what LoadIndexReport loaded.
type LoadReport struct {
	// Compiled is true for a compiled index file, false for a plain list.
	Compiled bool
	// List describes the list read when the file was a plain list.
	List ListStats
}

// LoadIndex loads a compiled index file, or builds an index from a plain
// hash list; which it is, is recognised by content. An empty list gives an
// empty index, which matches nothing.
func LoadIndex(path string) (*Index, error) {
	x, _, err := LoadIndexReport(path, ListOptions{})
	return x, err
}

// LoadIndexReport is LoadIndex with the options for a plain list and a
// report of what was loaded, for the caller to warn about skipped lines or
// an empty list.
func LoadIndexReport(path string, opts ListOptions) (*Index, LoadReport, error) {
	var rep LoadReport
	f, err := os.Open(path)
	if err != nil {
		return nil, rep, fmt.Errorf("index %s: %w", path, err)
	}
	defer f.Close()
	var magic [len(IndexMagic)]byte
	n, err := io.ReadFull(f, magic[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, rep, fmt.Errorf("index %s: %w", path, err)
	}
	if IsCompiledIndex(magic[:n]) {
		rep.Compiled = true
		x, err := idxReadCompiled(f)
		if err != nil {
			return nil, rep, fmt.Errorf("index %s: %w", path, err)
		}
		return x, rep, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, rep, fmt.Errorf("index %s: %w", path, err)
	}
	if opts.Source == "" {
		opts.Source = path
	}
	var b Builder
	rep.List, err = b.AddList(f, opts)
	if err != nil {
		return nil, rep, fmt.Errorf("index %s: %w", path, err)
	}
	x, err := b.Build()
	if err != nil {
		return nil, rep, fmt.Errorf("index %s: %w", path, err)
	}
	return x, rep, nil
}

// idxReadCompiled reads the whole file, positioned after its magic, in one
// read into an aligned buffer and decodes it in place.
func idxReadCompiled(f *os.File) (*Index, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size < idxHeaderSize {
		// Let the header parser name what is missing.
		b := make([]byte, size)
		if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return ParseIndex(b)
	}
	hdr := make([]byte, idxHeaderSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return nil, err
	}
	h, err := idxParseHeader(hdr)
	if err != nil {
		return nil, err
	}
	if err := idxCheckSize(h, uint64(size)); err != nil {
		return nil, err
	}
	buf := idxAlignedBytes(int(size))
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, err
	}
	return ParseIndex(buf)
}
