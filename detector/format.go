package detector

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format is a hash-list format an index can be built from.
type Format uint8

// The list formats. FormatAuto recognises the others by content.
const (
	FormatAuto Format = iota
	// FormatHex is one hex hash per line, optionally followed by a comma and
	// a label: HEX[,label]. The entry id is the line number.
	FormatHex
	// FormatVPDQ is a vPDQ file, the hashes of one known video:
	// frameNumber,quality,pdqHex,timestampSeconds per line. Each frame is an
	// entry whose id is the video's (the file name without extension) and
	// whose time is the frame's timestamp.
	FormatVPDQ
	// FormatCSV is CSV with a header row naming the hash column and
	// optionally id, label and signal-type columns.
	FormatCSV
)

var formatNames = [...]string{FormatAuto: "auto", FormatHex: "hex", FormatVPDQ: "vpdq", FormatCSV: "csv"}

// String returns the format's name as --format takes it.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// ParseFormat returns the format named s: auto, hex, vpdq or csv.
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return Format(f), nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want auto, hex, vpdq or csv)", ErrUnknownFormat, s)
}

// VPDQMinQuality is the frame quality below which vPDQ frames are dropped:
// PDQ hashes of flat or tiny frames carry little signal and match too much.
const VPDQMinQuality = 50

// listMaxErrors bounds the malformed-line errors a ListStats keeps.
const listMaxErrors = 20

// ListOptions says how to read one hash list.
type ListOptions struct {
	// Format forces a format; FormatAuto recognises it by content.
	Format Format
	// Strict fails the read at the first malformed line; otherwise such
	// lines are skipped and counted.
	Strict bool
	// List names the list in every entry; empty means the base name of
	// Source without its extension.
	List string
	// Source is where the list came from, usually its path; it names the
	// list in errors as file:line.
	Source string
	// Label is given to entries the list gives no label.
	Label string
	// Allow makes every entry an allowlist entry.
	Allow bool
}

// ListStats describes one list read.
type ListStats struct {
	Source    string
	List      string
	Format    Format
	Algorithm Algorithm // zero when the list has no entries
	Lines     int       // lines read
	Entries   int       // entries added
	// Skipped counts malformed lines left out (never in strict mode).
	Skipped int
	// LowQuality counts vPDQ frames dropped for quality below
	// VPDQMinQuality.
	LowQuality int
	// Other counts CSV rows whose signal type is not a hash this package
	// matches (an export may mix PDQ with, say, MD5 rows).
	Other int
	// Errors holds the first malformed lines, as *LineError.
	Errors []error
}

// LineError is a malformed line of a list: Source:Line: Err. errors.Is
// matches it against ErrMalformedLine and against Err.
type LineError struct {
	Source string
	Line   int
	Err    error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err) }

// Unwrap returns ErrMalformedLine and the cause.
func (e *LineError) Unwrap() []error { return []error{ErrMalformedLine, e.Err} }

// ReadListFile reads the hash list at path; opts.Source defaults to path.
func ReadListFile(path string, opts ListOptions, add func(Entry) error) (ListStats, error) {
	if opts.Source == "" {
		opts.Source = path
	}
	f, err := os.Open(path)
	if err != nil {
		return ListStats{Source: opts.Source}, fmt.Errorf("list %s: %w", path, err)
	}
	st, err := ReadList(f, opts, add)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("list %s: %w", path, cerr)
	}
	return st, err
}

// ReadList reads one hash list and calls add for each entry. Every hash of a
// list must be of one algorithm; a line of the other is malformed. An empty
// list is not an error: its stats show no entries.
func ReadList(r io.Reader, opts ListOptions, add func(Entry) error) (ListStats, error) {
	if opts.List == "" {
		base := filepath.Base(opts.Source)
		opts.List = strings.TrimSuffix(base, filepath.Ext(base))
	}
	lr := &listReader{
		br:   bufio.NewReaderSize(r, MaxLineBytes),
		opts: opts,
		add:  add,
		st:   ListStats{Source: opts.Source, List: opts.List, Format: opts.Format},
	}
	err := lr.run()
	return lr.st, err
}

// listReader holds the state of one ReadList call.
type listReader struct {
	br   *bufio.Reader
	opts ListOptions
	add  func(Entry) error
	st   ListStats
	line int
	// vPDQ: the video's id; CSV: the column positions.
	videoID                           string
	colHash, colID, colLabel, colType int
}

func (lr *listReader) run() error {
	f := lr.opts.Format
	if f == FormatAuto {
		prefix, _ := lr.br.Peek(MaxLineBytes)
		var err error
		if f, err = DetectFormat(prefix); err != nil {
			return fmt.Errorf("list %s: %w", lr.opts.Source, err)
		}
	}
	lr.st.Format = f
	var parse func(text string) error
	switch f {
	case FormatHex:
		parse = lr.hexLine
	case FormatVPDQ:
		base := filepath.Base(lr.opts.Source)
		lr.videoID = strings.TrimSuffix(base, filepath.Ext(base))
		if lr.opts.Source == "" {
			lr.videoID = lr.opts.List
		}
		parse = lr.vpdqLine
	case FormatCSV:
		lr.colHash = -1
		parse = lr.csvLine
	default:
		return fmt.Errorf("list %s: %w: %s", lr.opts.Source, ErrUnknownFormat, f)
	}
	for {
		text, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if lerr := (*LineError)(nil); errors.As(err, &lerr) {
				if ferr := lr.malformed(lerr); ferr != nil {
					return ferr
				}
				continue
			}
			return fmt.Errorf("list %s: line %d: %w", lr.opts.Source, lr.line, err)
		}
		if perr := parse(text); perr != nil {
			if lerr := (*LineError)(nil); errors.As(perr, &lerr) {
				if ferr := lr.malformed(lerr); ferr != nil {
					return ferr
				}
				continue
			}
			return perr
		}
	}
	return nil
}

// next returns the next line that is not blank or a comment, trimmed.
func (lr *listReader) next() (string, error) {
	for {
		b, err := lr.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lr.line++
			lr.st.Lines++
			// Skip the rest of the over-long line so reading can go on.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lr.br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return "", err
			}
			return "", lr.lineErr(fmt.Errorf("line longer than %d bytes", MaxLineBytes))
		}
		if len(b) == 0 && err != nil {
			return "", err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		lr.line++
		lr.st.Lines++
		if lr.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\uFEFF"))
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 || b[0] == '#' {
			if err != nil {
				return "", err
			}
			continue
		}
		return string(b), nil
	}
}

func (lr *listReader) lineErr(err error) *LineError {
	return &LineError{Source: lr.opts.Source, Line: lr.line, Err: err}
}

// malformed skips and counts a bad line, or ends the read in strict mode.
func (lr *listReader) malformed(e *LineError) error {
	if lr.opts.Strict {
		return e
	}
	lr.st.Skipped++
	if len(lr.st.Errors) < listMaxErrors {
		lr.st.Errors = append(lr.st.Errors, e)
	}
	return nil
}

// emit checks the algorithm is the list's and hands the entry on.
func (lr *listReader) emit(e Entry) error {
	a := e.Hash.Algorithm
	if lr.st.Algorithm == 0 {
		lr.st.Algorithm = a
	} else if a != lr.st.Algorithm {
		return lr.lineErr(fmt.Errorf("%w: %s hash in a %s list", ErrMixedAlgorithms, a, lr.st.Algorithm))
	}
	if e.Label == "" {
		e.Label = lr.opts.Label
	}
	e.List = lr.opts.List
	e.Source = lr.opts.Source
	e.Allow = lr.opts.Allow
	if err := lr.add(e); err != nil {
		return fmt.Errorf("list %s: line %d: %w", lr.opts.Source, lr.line, err)
	}
	lr.st.Entries++
	return nil
}

func (lr *listReader) hexLine(text string) error {
	hexPart, label, _ := strings.Cut(text, ",")
	h, err := ParseHash(hexPart)
	if err != nil {
		return lr.lineErr(err)
	}
	return lr.emit(Entry{Hash: h, ID: strconv.Itoa(lr.line), Label: strings.TrimSpace(label)})
}

func (lr *listReader) vpdqLine(text string) error {
	f, ok := listFields4(text)
	if !ok {
		return lr.lineErr(errors.New("want 4 fields: frameNumber,quality,pdqHex,timestampSeconds"))
	}
	if _, err := strconv.ParseUint(f[0], 10, 63); err != nil {
		return lr.lineErr(fmt.Errorf("frame number %q", f[0]))
	}
	q, err := strconv.Atoi(f[1])
	if err != nil || q < 0 || q > 100 {
		return lr.lineErr(fmt.Errorf("quality %q, want 0..100", f[1]))
	}
	h, err := ParseHashAs(PDQ, f[2])
	if err != nil {
		return lr.lineErr(err)
	}
	ts, err := strconv.ParseFloat(f[3], 64)
	if err != nil || ts < 0 || math.IsInf(ts, 0) || math.IsNaN(ts) {
		return lr.lineErr(fmt.Errorf("timestamp %q", f[3]))
	}
	if q < VPDQMinQuality {
		lr.st.LowQuality++
		return nil
	}
	return lr.emit(Entry{Hash: h, ID: lr.videoID, Time: ts})
}

// listFields4 splits a line into exactly four trimmed comma fields.
func listFields4(text string) ([4]string, bool) {
	var f [4]string
	for i := range 3 {
		var ok bool
		f[i], text, ok = strings.Cut(text, ",")
		if !ok {
			return f, false
		}
		f[i] = strings.TrimSpace(f[i])
	}
	if strings.Contains(text, ",") {
		return f, false
	}
	f[3] = strings.TrimSpace(text)
	return f, true
}

// CSV column names recognised in a header, lower case.
var (
	csvHashColumns  = []string{"hash", "pdq", "pdq_hash", "pdqhash", "phash", "signal_value", "signal", "hash_value", "hex"}
	csvIDColumns    = []string{"id", "entry_id", "content_id", "signal_id", "hash_id", "item_id", "media_id"}
	csvLabelColumns = []string{"label", "category", "categories", "class", "classification", "tag", "tags"}
	csvTypeColumns  = []string{"signal_type", "hash_type", "algorithm", "type"}
)

func csvColumn(fields []string, names []string) int {
	for _, name := range names {
		for i, f := range fields {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return i
			}
		}
	}
	return -1
}

func (lr *listReader) csvLine(text string) error {
	fields, err := listSplitCSV(text)
	if err != nil {
		return lr.lineErr(err)
	}
	if lr.colHash < 0 {
		lr.colHash = csvColumn(fields, csvHashColumns)
		if lr.colHash < 0 {
			// Without a header naming the hash column nothing after it
			// can be read: this fails even when not strict.
			return fmt.Errorf("list %s:%d: %w: CSV header names no hash column (want one of %s)",
				lr.opts.Source, lr.line, ErrUnknownFormat, strings.Join(csvHashColumns, ", "))
		}
		lr.colID = csvColumn(fields, csvIDColumns)
		lr.colLabel = csvColumn(fields, csvLabelColumns)
		lr.colType = csvColumn(fields, csvTypeColumns)
		return nil
	}
	if len(fields) <= lr.colHash {
		return lr.lineErr(fmt.Errorf("%d fields, hash is column %d", len(fields), lr.colHash+1))
	}
	if lr.colType >= 0 && lr.colType < len(fields) {
		if t := strings.TrimSpace(fields[lr.colType]); t != "" {
			if _, err := ParseAlgorithm(strings.TrimSuffix(strings.ToLower(t), "_hash")); err != nil {
				lr.st.Other++
				return nil
			}
		}
	}
	h, err := ParseHash(fields[lr.colHash])
	if err != nil {
		return lr.lineErr(err)
	}
	e := Entry{Hash: h, ID: strconv.Itoa(lr.line)}
	if lr.colID >= 0 && lr.colID < len(fields) {
		if id := strings.TrimSpace(fields[lr.colID]); id != "" {
			e.ID = id
		}
	}
	if lr.colLabel >= 0 && lr.colLabel < len(fields) {
		e.Label = strings.TrimSpace(fields[lr.colLabel])
	}
	return lr.emit(e)
}

// listSplitCSV splits one CSV line (RFC 4180 quoting, no line breaks inside
// quotes: hash lists have none, and a bounded line keeps memory bounded).
func listSplitCSV(line string) ([]string, error) {
	var out []string
	for {
		if strings.HasPrefix(line, `"`) {
			var sb strings.Builder
			i := 1
			for {
				j := strings.IndexByte(line[i:], '"')
				if j < 0 {
					return nil, errors.New("unterminated quoted field")
				}
				sb.WriteString(line[i : i+j])
				i += j + 1
				if i < len(line) && line[i] == '"' {
					sb.WriteByte('"')
					i++
					continue
				}
				break
			}
			out = append(out, sb.String())
			rest := strings.TrimLeft(line[i:], " \t")
			if rest == "" {
				return out, nil
			}
			if rest[0] != ',' {
				return nil, errors.New("text after quoted field")
			}
			line = rest[1:]
			continue
		}
		f, rest, more := strings.Cut(line, ",")
		out = append(out, f)
		if !more {
			return out, nil
		}
		line = rest
	}
}

// DetectFormat recognises a list's format from its first bytes (up to
// MaxLineBytes): the first line that is neither blank nor a comment decides.
// A CSV header names a hash column; a vPDQ line has four fields with a
// 64-digit hash third; a hex line starts with a 16- or 64-digit hash. Input
// with no such line is an empty hex list. Images and videos are reported with
// ErrMediaSource, anything else with ErrUnknownFormat.
func DetectFormat(prefix []byte) (Format, error) {
	if kind := listMediaKind(prefix); kind != "" {
		return 0, fmt.Errorf("%w: looks like %s", ErrMediaSource, kind)
	}
	if bytes.IndexByte(prefix, 0) >= 0 || !utf8.Valid(listTrimPartialRune(prefix)) {
		return 0, fmt.Errorf("%w: binary data", ErrUnknownFormat)
	}
	rest := bytes.TrimPrefix(prefix, []byte("\uFEFF"))
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		text := strings.TrimSpace(string(line))
		if text == "" || text[0] == '#' {
			continue
		}
		if fields, err := listSplitCSV(text); err == nil && csvColumn(fields, csvHashColumns) >= 0 {
			return FormatCSV, nil
		}
		if f, ok := listFields4(text); ok && len(f[2]) == PDQ.HexLen() {
			if _, err := strconv.ParseUint(f[0], 10, 63); err == nil {
				if _, err := strconv.Atoi(f[1]); err == nil {
					return FormatVPDQ, nil
				}
			}
		}
		first, _, _ := strings.Cut(text, ",")
		if _, err := ParseHash(first); err == nil {
			return FormatHex, nil
		}
		if len(text) > 60 {
			text = text[:60] + "..."
		}
		return 0, fmt.Errorf("%w: first line %q is no hex hash, vPDQ line or CSV header", ErrUnknownFormat, text)
	}
	return FormatHex, nil
}

// listTrimPartialRune drops a rune cut off at the end of a peeked prefix.
func listTrimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		r, size := utf8.DecodeLastRune(b)
		if r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

// listMediaKind names the image or video container the bytes start with,
// or returns "".
func listMediaKind(b []byte) string {
	has := func(off int, sig string) bool {
		return len(b) >= off+len(sig) && string(b[off:off+len(sig)]) == sig
	}
	switch {
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "a PNG image"
	case has(0, "\xff\xd8\xff"):
		return "a JPEG image"
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return "a GIF image"
	case has(0, "RIFF") && has(8, "WEBP"):
		return "a WebP image"
	case has(0, "RIFF") && has(8, "AVI "):
		return "an AVI video"
	case has(4, "ftyp"):
		return "an MP4/MOV video or HEIF image"
	case has(0, "\x1a\x45\xdf\xa3"):
		return "a Matroska/WebM video"
	case has(0, "FLV\x01"):
		return "an FLV video"
	case len(b) >= 189 && b[0] == 0x47 && b[188] == 0x47:
		return "an MPEG-TS video"
	case has(0, "BM") && len(b) >= 26 && bytes.IndexByte(b[:26], 0) >= 0:
		return "a BMP image"
	}
	return ""
}

// AddList reads one hash list into the builder.
func (b *Builder) AddList(r io.Reader, opts ListOptions) (ListStats, error) {
	return ReadList(r, opts, b.Add)
}

// AddListFile reads the hash list at path into the builder.
func (b *Builder) AddListFile(path string, opts ListOptions) (ListStats, error) {
	return ReadListFile(path, opts, b.Add)
}
