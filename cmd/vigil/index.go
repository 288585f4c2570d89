package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilstream/vigil/detector"
)

const indexUsage = `usage:
  vigil index build -o OUT [--format auto|hex|vpdq|csv] [--strict] [--allowlist FILE]... SOURCE...
  vigil index stats [--json] INDEX
  vigil index query INDEX HASH [--max-distance N]
  vigil index query INDEX - [--max-distance N]    (one hash per line on stdin)
  vigil index publish [NATS flags] INDEX          make INDEX the fleet's index (vigil index publish --help)

Examples:
  vigil index build -o known.vidx programme-a.csv programme-b.txt clips/*.vpdq.txt --allowlist benign.txt
  vigil index stats known.vidx
  vigil index query known.vidx f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22 --max-distance 31
  vigil hash image *.jpg | cut -d, -f1 | vigil index query known.vidx -`

// runIndex runs `vigil index ...`.
func runIndex(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, indexUsage)
	}
	for _, a := range args[1:] {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprintln(stdout, indexUsage)
			return nil
		}
	}
	switch args[0] {
	case "build":
		return runIndexBuild(ctx, args[1:], stdout, stderr)
	case "stats":
		return runIndexStats(args[1:], stdout)
	case "query":
		return runIndexQuery(ctx, args[1:], stdin, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, indexUsage)
		return nil
	default:
		return fmt.Errorf("%w: unknown index command %q\n%s", errUsage, args[0], indexUsage)
	}
}

// indexParseArgs parses flags wherever they stand among the positional
// arguments (the documented forms put --max-distance after them), which the
// flag package alone stops at. "-" and anything after "--" are positional.
func indexParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %v\n%s", errUsage, err, indexUsage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, tail...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// indexMultiFlag collects a repeated flag.
type indexMultiFlag []string

func (m *indexMultiFlag) String() string     { return strings.Join(*m, ",") }
func (m *indexMultiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runIndexBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("index build", flag.ContinueOnError)
	out := fs.String("o", "", "compiled index file to write")
	formatName := fs.String("format", "auto", "list format: auto, hex, vpdq or csv")
	strict := fs.Bool("strict", false, "fail on the first malformed line instead of skipping it")
	var allow indexMultiFlag
	fs.Var(&allow, "allowlist", "a list of benign hashes that must never fire (repeatable)")
	sources, err := indexParseArgs(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: index build needs -o OUT\n%s", errUsage, indexUsage)
	}
	if len(sources)+len(allow) == 0 {
		return fmt.Errorf("%w: index build needs at least one SOURCE\n%s", errUsage, indexUsage)
	}
	format, err := detector.ParseFormat(*formatName)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	type source struct {
		path  string
		allow bool
	}
	var all []source
	var total int64
	for _, p := range sources {
		all = append(all, source{path: p})
	}
	for _, p := range allow {
		all = append(all, source{path: p, allow: true})
	}
	for _, s := range all {
		fi, err := os.Stat(s.path)
		if err != nil {
			return fmt.Errorf("index build: %w", err)
		}
		total += fi.Size()
	}

	start := time.Now()
	var b detector.Builder
	prog := newIndexProgress(stderr, total)
	defer prog.stop()
	var warnings []string
	for _, s := range all {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("index build: %w", err)
		}
		opts := detector.ListOptions{Format: format, Strict: *strict, Source: s.path, Allow: s.allow}
		st, err := indexAddSource(ctx, &b, s.path, opts, prog)
		if err != nil {
			return fmt.Errorf("index build: %w", err)
		}
		kind := "list"
		if s.allow {
			kind = "allowlist"
		}
		if st.Entries == 0 {
			warnings = append(warnings, fmt.Sprintf("warning: %s %s has no entries; it will match nothing", kind, s.path))
		}
		if st.Skipped > 0 {
			warnings = append(warnings, fmt.Sprintf("warning: %s: skipped %d malformed lines", s.path, st.Skipped))
			for _, e := range st.Errors {
				warnings = append(warnings, "  "+e.Error())
			}
			if more := st.Skipped - len(st.Errors); more > 0 {
				warnings = append(warnings, fmt.Sprintf("  ... and %d more", more))
			}
		}
		if st.LowQuality > 0 {
			warnings = append(warnings, fmt.Sprintf("note: %s: dropped %d frames of quality below %d", s.path, st.LowQuality, detector.VPDQMinQuality))
		}
		if st.Other > 0 {
			warnings = append(warnings, fmt.Sprintf("note: %s: ignored %d rows of other signal types", s.path, st.Other))
		}
	}
	prog.stop()
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	x, err := b.Build()
	if err != nil {
		return fmt.Errorf("index build: %w", err)
	}
	if err := x.WriteFile(*out); err != nil {
		return fmt.Errorf("index build: %w", err)
	}
	st := x.Stats()
	var parts []string
	for _, t := range st.Tables {
		parts = append(parts, fmt.Sprintf("%d %s", t.Entries, t.Algorithm))
	}
	if len(parts) == 0 {
		parts = append(parts, "empty")
	}
	fmt.Fprintf(stdout, "wrote %s: %d entries (%s), %d allowlisted, from %d sources in %s\n",
		*out, st.Entries, strings.Join(parts, ", "), st.Allowlisted, len(all), time.Since(start).Round(time.Millisecond))
	return nil
}

// indexAddSource reads one source into b: a hash list, or an image or video
// through indexMediaSource.
func indexAddSource(ctx context.Context, b *detector.Builder, path string, opts detector.ListOptions, prog *indexProgress) (detector.ListStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return detector.ListStats{}, err
	}
	defer f.Close()
	var magic [len(detector.IndexMagic)]byte
	n, _ := io.ReadFull(f, magic[:])
	if detector.IsCompiledIndex(magic[:n]) {
		return detector.ListStats{}, fmt.Errorf("%s is a compiled index; build from the lists it was built from", path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return detector.ListStats{}, err
	}
	r := &indexCountingReader{ctx: ctx, r: f, prog: prog}
	st, err := b.AddList(r, opts)
	if errors.Is(err, detector.ErrMediaSource) {
		return indexMediaSource(ctx, path, b, opts)
	}
	return st, err
}

// indexCountingReader feeds the progress bar and stops a build when ctx is
// cancelled.
type indexCountingReader struct {
	ctx  context.Context
	r    io.Reader
	prog *indexProgress
}

func (c *indexCountingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.prog.add(int64(n))
	return n, err
}

// indexProgress draws a progress bar on stderr when stderr is a terminal,
// and does nothing otherwise, so logs and pipes get no control characters.
type indexProgress struct {
	w       io.Writer
	total   int64
	done    atomic.Int64
	last    time.Time
	active  bool
	stopped bool
}

func newIndexProgress(w io.Writer, total int64) *indexProgress {
	p := &indexProgress{w: w, total: total}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" {
			p.active = true
		}
	}
	return p
}

func (p *indexProgress) add(n int64) {
	done := p.done.Add(n)
	if !p.active || p.stopped || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(done)/float64(p.total), 1)
	}
	const width = 30
	bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(" ", width-int(frac*width))
	fmt.Fprintf(p.w, "\r[%s] %3.0f%% %d/%d MiB", bar, frac*100, done>>20, p.total>>20)
}

func (p *indexProgress) stop() {
	if p.active && !p.stopped && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.stopped = true
}

func runIndexStats(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("index stats", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := indexParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: index stats takes one INDEX\n%s", errUsage, indexUsage)
	}
	x, rep, err := detector.LoadIndexReport(pos[0], detector.ListOptions{})
	if err != nil {
		return fmt.Errorf("index stats: %w", err)
	}
	st := x.Stats()
	if *asJSON {
		type list struct {
			List      string `json:"list"`
			Source    string `json:"source"`
			Algorithm string `json:"algorithm"`
			Allowlist bool   `json:"allowlist,omitempty"`
			Entries   int    `json:"entries"`
		}
		type table struct {
			Algorithm  string `json:"algorithm"`
			Entries    int    `json:"entries"`
			SlotBits   []int  `json:"slot_bits"`
			LinearFrom int    `json:"linear_from_distance"`
			Bytes      int64  `json:"bytes"`
		}
		out := struct {
			Index       string  `json:"index"`
			Compiled    bool    `json:"compiled"`
			Entries     int     `json:"entries"`
			Allowlisted int     `json:"allowlisted"`
			Skipped     int     `json:"skipped_lines,omitempty"`
			Tables      []table `json:"tables"`
			Lists       []list  `json:"lists"`
		}{Index: pos[0], Compiled: rep.Compiled, Entries: st.Entries, Allowlisted: st.Allowlisted, Skipped: rep.List.Skipped, Tables: []table{}, Lists: []list{}}
		for _, t := range st.Tables {
			out.Tables = append(out.Tables, table{t.Algorithm.String(), t.Entries, append([]int{}, t.SlotBits...), t.LinearFrom, t.Bytes})
		}
		for _, l := range st.Lists {
			out.Lists = append(out.Lists, list{l.List, l.Source, l.Algorithm.String(), l.Allow, l.Entries})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	bw := bufio.NewWriter(stdout)
	kind := "compiled index"
	if !rep.Compiled {
		kind = fmt.Sprintf("%s list (%d lines skipped)", rep.List.Format, rep.List.Skipped)
	}
	fmt.Fprintf(bw, "%s: %s, %d entries, %d allowlisted\n", pos[0], kind, st.Entries, st.Allowlisted)
	for _, t := range st.Tables {
		layout := "linear scan only"
		if len(t.SlotBits) > 0 {
			layout = fmt.Sprintf("multi-index %d slots %v, linear scan from distance %d", len(t.SlotBits), t.SlotBits, t.LinearFrom)
		}
		fmt.Fprintf(bw, "  %-5s %10d entries  %8.1f MiB  %s\n", t.Algorithm, t.Entries, float64(t.Bytes)/(1<<20), layout)
	}
	for _, l := range st.Lists {
		tag := ""
		if l.Allow {
			tag = "  [allowlist]"
		}
		fmt.Fprintf(bw, "  list %q (%s, %s): %d entries%s\n", l.List, l.Source, l.Algorithm, l.Entries, tag)
	}
	if st.Entries == 0 {
		fmt.Fprintln(bw, "  warning: the index is empty and matches nothing")
	}
	return bw.Flush()
}

// indexMatchJSON is one match in `index query` output.
type indexMatchJSON struct {
	List     string  `json:"list"`
	ID       string  `json:"id"`
	Label    string  `json:"label"`
	Distance int     `json:"distance"`
	Time     float64 `json:"time,omitempty"`
}

// indexQueryJSON is one line of `index query` output.
type indexQueryJSON struct {
	Query   string           `json:"query"`
	Error   string           `json:"error,omitempty"`
	Matches []indexMatchJSON `json:"matches"`
	// Allowlisted and Suppressed say why a hash within range of known
	// material reports no match: it is also within range of an allowlist
	// entry.
	Allowlisted []indexMatchJSON `json:"allowlisted,omitempty"`
	Suppressed  int              `json:"suppressed,omitempty"`
}

func indexMatches(ms []detector.Match) []indexMatchJSON {
	out := make([]indexMatchJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, indexMatchJSON{List: m.Entry.List, ID: m.Entry.ID, Label: m.Entry.Label, Distance: m.Distance, Time: m.Entry.Time})
	}
	return out
}

func runIndexQuery(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("index query", flag.ContinueOnError)
	maxDist := fs.Int("max-distance", -1, "largest Hamming distance that matches (default: the algorithm's, 31 for PDQ, 10 for pHash)")
	pos, err := indexParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("%w: index query takes INDEX and HASH (or - for stdin)\n%s", errUsage, indexUsage)
	}
	distSet := false
	fs.Visit(func(f *flag.Flag) { distSet = distSet || f.Name == "max-distance" })
	if distSet && *maxDist < 0 {
		return fmt.Errorf("%w: --max-distance must be 0 or more", errUsage)
	}
	x, err := detector.LoadIndex(pos[0])
	if err != nil {
		return fmt.Errorf("index query: %w", err)
	}
	bw := bufio.NewWriter(stdout)
	enc := json.NewEncoder(bw)
	var res detector.Result
	answer := func(text string) (bool, error) {
		line := indexQueryJSON{Query: text, Matches: []indexMatchJSON{}}
		h, err := detector.ParseHash(text)
		if err != nil {
			line.Error = err.Error()
			return false, enc.Encode(line)
		}
		r := *maxDist
		if !distSet {
			r = h.Algorithm.DefaultMaxDistance()
		}
		x.QueryResult(h, r, &res)
		line.Query = h.String()
		line.Matches = indexMatches(res.Matches)
		if len(res.Allowed) > 0 {
			line.Allowlisted = indexMatches(res.Allowed)
			line.Suppressed = res.Suppressed
		}
		return true, enc.Encode(line)
	}

	if pos[1] != "-" {
		if _, err := detector.ParseHash(pos[1]); err != nil {
			return fmt.Errorf("index query: %w", err)
		}
		if _, err := answer(pos[1]); err != nil {
			return fmt.Errorf("index query: %w", err)
		}
		return bw.Flush()
	}

	br := bufio.NewReaderSize(stdin, 64<<10)
	bad, lines := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			bw.Flush()
			return fmt.Errorf("index query: %w", err)
		}
		raw, rerr := br.ReadSlice('\n')
		tooLong := errors.Is(rerr, bufio.ErrBufferFull)
		for errors.Is(rerr, bufio.ErrBufferFull) {
			_, rerr = br.ReadSlice('\n')
		}
		if text := strings.TrimSpace(string(raw)); tooLong || text != "" {
			lines++
			var ok bool
			var err error
			if tooLong {
				err = enc.Encode(indexQueryJSON{Query: text[:min(len(text), 64)] + "...", Error: "line too long", Matches: []indexMatchJSON{}})
			} else {
				ok, err = answer(text)
			}
			if err != nil {
				return fmt.Errorf("index query: %w", err)
			}
			if !ok {
				bad++
			}
		}
		// Flush when no more input is waiting, so an interactive caller
		// sees each answer, and a pipe gets big writes.
		if br.Buffered() == 0 || rerr != nil {
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("index query: %w", err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("index query: reading stdin: %w", rerr)
		}
	}
	if bad > 0 {
		return fmt.Errorf("index query: %d of %d lines were not hashes", bad, lines)
	}
	return nil
}
