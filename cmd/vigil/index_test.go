package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/internal/testenv"
)

const (
	cliPDQ1 = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
	cliPDQ2 = "0000000000000000000000000000000000000000000000000000000000000001"
	cliPDQ3 = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	cliPH1  = "d1c4a5b6e7f80912"
)

// cliPDQ1Near is cliPDQ1 with its last digit changed: distance 2.
const cliPDQ1Near = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b21"

func cliRun(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runIndex(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func cliWrite(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cliFixture writes one list of each format and an allowlist.
func cliFixture(t *testing.T) (dir string, sources []string, allow string) {
	dir = t.TempDir()
	hex := cliWrite(t, dir, "known.txt", "# known\n"+cliPDQ1+",cat A\nnot a hash\n"+cliPDQ2+"\n")
	vpdq := cliWrite(t, dir, "clip-9.vpdq", "0,100,"+cliPDQ1+",0.000\n1,20,"+cliPDQ2+",0.5\n2,90,"+cliPDQ3+",1.000\n")
	csv := cliWrite(t, dir, "hma.csv", "id,signal_type,signal_value,category\nx-1,pdq,"+cliPDQ1+",cat B\n")
	allow = cliWrite(t, dir, "benign.txt", cliPDQ3+",test card\n")
	return dir, []string{hex, vpdq, csv}, allow
}

func TestIndexCLIBuildStatsQuery(t *testing.T) {
	dir, sources, allow := cliFixture(t)
	out := filepath.Join(dir, "known.vidx")
	args := append([]string{"build", "-o", out}, sources...)
	args = append(args, "--allowlist", allow)
	stdout, stderr, err := cliRun(t, "", args...)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "6 entries (6 pdq), 1 allowlisted") {
		t.Errorf("build stdout = %q", stdout)
	}
	for _, want := range []string{"known.txt: skipped 1 malformed lines", "known.txt:3: ", "dropped 1 frames of quality below 50"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("build stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.ContainsAny(stderr, "\r\033") {
		t.Errorf("progress drawn on a non-terminal: %q", stderr)
	}

	stdout, _, err = cliRun(t, "", "stats", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"compiled index, 6 entries, 1 allowlisted", `list "known"`, `list "clip-9"`, `list "hma"`, "[allowlist]"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stats lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, err = cliRun(t, "", "stats", "--json", out)
	var js struct {
		Compiled bool
		Entries  int
		Lists    []struct{ List string }
	}
	if err != nil || json.Unmarshal([]byte(stdout), &js) != nil || !js.Compiled || js.Entries != 6 || len(js.Lists) != 4 {
		t.Errorf("stats --json = %s, %v", stdout, err)
	}

	// One hash; the flag after the positional arguments, as documented.
	stdout, _, err = cliRun(t, "", "query", out, cliPDQ1Near, "--max-distance", "5")
	if err != nil {
		t.Fatal(err)
	}
	var line struct {
		Query   string
		Matches []struct {
			List, ID, Label string
			Distance        int
			Time            float64
		}
	}
	if err := json.Unmarshal([]byte(stdout), &line); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if line.Query != cliPDQ1Near || len(line.Matches) != 3 {
		t.Fatalf("query = %s", stdout)
	}
	seen := map[string]bool{}
	for _, m := range line.Matches {
		if m.Distance != 2 {
			t.Errorf("match %+v, want distance 2", m)
		}
		seen[m.List+"/"+m.ID+"/"+m.Label] = true
	}
	for _, want := range []string{"known/2/cat A", "clip-9/clip-9/", "hma/x-1/cat B"} {
		if !seen[want] {
			t.Errorf("missing membership %s in %s", want, stdout)
		}
	}
	if stdout, _, _ := cliRun(t, "", "query", "--max-distance=1", out, cliPDQ1Near); !strings.Contains(stdout, `"matches":[]`) {
		t.Errorf("r=1 query = %s", stdout)
	}
}

func TestIndexCLIQueryStdin(t *testing.T) {
	dir, sources, allow := cliFixture(t)
	out := filepath.Join(dir, "i.vidx")
	if _, stderr, err := cliRun(t, "", append([]string{"build", "-o", out, "--allowlist", allow}, sources...)...); err != nil {
		t.Fatal(err, stderr)
	}
	in := cliPDQ1 + "\n\n" + strings.ToUpper(cliPDQ3) + "\n" + cliPH1 + "\nzzz\n" + cliPDQ2
	stdout, _, err := cliRun(t, in, "query", out, "-")
	if err == nil || !strings.Contains(err.Error(), "1 of 5 lines were not hashes") {
		t.Fatalf("err = %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), stdout)
	}
	type res struct {
		Query       string
		Error       string
		Matches     []json.RawMessage
		Allowlisted []json.RawMessage
		Suppressed  int
	}
	var got []res
	for _, l := range lines {
		var r res
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got[0].Matches) != 3 {
		t.Errorf("pdq1: %s", lines[0])
	}
	// cliPDQ3 is in the vPDQ list and on the allowlist: suppressed.
	if got[1].Query != cliPDQ3 || len(got[1].Matches) != 0 || len(got[1].Allowlisted) != 1 || got[1].Suppressed != 1 {
		t.Errorf("allowlisted: %s", lines[1])
	}
	if len(got[2].Matches) != 0 || got[2].Error != "" {
		t.Errorf("phash on a pdq index: %s", lines[2])
	}
	if got[3].Error == "" || got[3].Matches == nil {
		t.Errorf("bad line: %s", lines[3])
	}
	if len(got[4].Matches) != 1 {
		t.Errorf("last line without newline: %s", lines[4])
	}
}

func TestIndexCLIPlainListAndErrors(t *testing.T) {
	dir, sources, _ := cliFixture(t)
	// A plain list serves as an index directly.
	stdout, _, err := cliRun(t, "", "query", sources[0], cliPDQ2)
	if err != nil || !strings.Contains(stdout, `"id":"4"`) {
		t.Fatalf("query on a list: %s, %v", stdout, err)
	}
	if stdout, _, err := cliRun(t, "", "stats", sources[0]); err != nil || !strings.Contains(stdout, "hex list (1 lines skipped)") {
		t.Errorf("stats on a list: %s, %v", stdout, err)
	}
	out := filepath.Join(dir, "o.vidx")
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no command", nil, true, "usage"},
		{"unknown", []string{"frob"}, true, "unknown index command"},
		{"no output", []string{"build", sources[0]}, true, "-o OUT"},
		{"no sources", []string{"build", "-o", out}, true, "SOURCE"},
		{"bad format", []string{"build", "-o", out, "--format", "xml", sources[0]}, true, "xml"},
		{"bad flag", []string{"build", "--nope"}, true, "nope"},
		{"strict", []string{"build", "--strict", "-o", out, sources[0]}, false, "known.txt:3: "},
		{"missing source", []string{"build", "-o", out, filepath.Join(dir, "none.txt")}, false, "none.txt"},
		{"query args", []string{"query", out}, true, "INDEX and HASH"},
		{"query bad hash", []string{"query", sources[0], "abc"}, false, "bad hash"},
		{"query negative", []string{"query", sources[0], cliPDQ1, "--max-distance", "-2"}, true, "0 or more"},
		{"stats args", []string{"stats"}, true, "one INDEX"},
		{"forced wrong format", []string{"build", "-o", out, "--format", "csv", sources[0]}, false, "no hash column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := cliRun(t, "", tt.args...)
			if err == nil || errors.Is(err, errUsage) != tt.usage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want usage=%v containing %q", err, tt.usage, tt.want)
			}
		})
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed build left %s behind", out)
	}
}

func TestIndexCLIMediaAndEmpty(t *testing.T) {
	dir := t.TempDir()
	png := cliWrite(t, dir, "frame.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	out := filepath.Join(dir, "o.vidx")
	if _, _, err := cliRun(t, "", "build", "-o", out, png); err == nil || !strings.Contains(err.Error(), "frame.png") {
		t.Fatalf("truncated png source: %v", err)
	}
	// Real pictures and videos are hashed with PDQ, labelled with their
	// file names; a video adds each distinct frame.
	known := testenv.WritePNG(t, "known.png", testenv.KnownImage(31, 320, 240))
	video := filepath.Join(dir, "clip.mp4")
	testenv.RunFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", video)
	stdout, _, err := cliRun(t, "", "build", "-o", out, known, video)
	if err != nil || !strings.Contains(stdout, "entries") {
		t.Fatalf("media sources: %s %v", stdout, err)
	}
	img, _, _ := detector.DecodeImageFile(known, 0)
	h, _, _ := detector.NewPDQHasher().HashImage(img)
	stdout, _, err = cliRun(t, "", "query", out, h.String())
	if err != nil || !strings.Contains(stdout, `"label":"known.png"`) || !strings.Contains(stdout, `"distance":0`) {
		t.Fatalf("query for the picture: %s %v", stdout, err)
	}
	idx, err := detector.LoadIndex(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := idx.Len(); n < 5 || n > 21 {
		t.Errorf("%d entries for one picture and a 20-frame video", n)
	}

	empty := cliWrite(t, dir, "empty.txt", "# nothing yet\n")
	stdout, stderr, err := cliRun(t, "", "build", "-o", out, empty)
	if err != nil || !strings.Contains(stderr, "empty.txt has no entries") || !strings.Contains(stdout, "0 entries (empty)") {
		t.Fatalf("empty list: %s %s %v", stdout, stderr, err)
	}
	if stdout, _, err := cliRun(t, "", "stats", out); err != nil || !strings.Contains(stdout, "empty and matches nothing") {
		t.Errorf("stats of empty: %s %v", stdout, err)
	}
	if stdout, _, err := cliRun(t, "", "query", out, cliPDQ1); err != nil || !strings.Contains(stdout, `"matches":[]`) {
		t.Errorf("query of empty: %s %v", stdout, err)
	}

	// A corrupt index is refused with the reason.
	data, _ := os.ReadFile(out)
	bad := cliWrite(t, dir, "bad.vidx", string(data[:len(data)-1]))
	if _, _, err := cliRun(t, "", "query", bad, cliPDQ1); !errors.Is(err, detector.ErrIndexCorrupt) {
		t.Errorf("corrupt index: %v", err)
	}
	// A compiled index is not a build source.
	if _, _, err := cliRun(t, "", "build", "-o", filepath.Join(dir, "x"), out); err == nil || !strings.Contains(err.Error(), "compiled index") {
		t.Errorf("index as source: %v", err)
	}
}

func TestIndexCLICancelled(t *testing.T) {
	_, sources, _ := cliFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	err := runIndex(ctx, []string{"build", "-o", filepath.Join(t.TempDir(), "o"), sources[0]}, nil, &out, &errb)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestIndexParseArgs(t *testing.T) {
	fs := newTestFlagSet()
	pos, err := indexParseArgs(fs, []string{"a", "-n", "3", "b", "--", "-c"})
	if err != nil || strings.Join(pos, ",") != "a,b,-c" || fs.Lookup("n").Value.String() != "3" {
		t.Fatalf("pos %v, err %v", pos, err)
	}
}

func newTestFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("n", 0, "")
	return fs
}

func TestIndexProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newIndexProgress(&buf, 100<<20)
	p.add(50 << 20)
	p.stop()
	if buf.Len() != 0 {
		t.Fatalf("progress drawn on a buffer: %q", buf.String())
	}
	// As on a terminal: a bar, then the line cleared at the end.
	p = newIndexProgress(&buf, 100<<20)
	p.active = true
	p.add(50 << 20)
	p.stop()
	if out := buf.String(); !strings.Contains(out, "\r[###############               ]  50% 50/100 MiB") || !strings.HasSuffix(out, "\r\033[K") {
		t.Fatalf("progress = %q", out)
	}
}
