package main

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/internal/testenv"
)

func TestHashImage(t *testing.T) {
	dir := t.TempDir()
	good := testenv.WritePNG(t, "good.png", testenv.KnownImage(7, 320, 200))
	truncated := filepath.Join(dir, "truncated.png")
	raw, _ := os.ReadFile(good)
	if err := os.WriteFile(truncated, raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "notes.txt")
	_ = os.WriteFile(text, []byte("not an image"), 0o600)
	huge := filepath.Join(dir, "huge.png")
	writeHugeHeader(t, huge)

	out, stderr, err := vigil(t, context.Background(), nil, "hash", "image", truncated, good, text, huge, filepath.Join(dir, "missing.png"))
	if !errors.Is(err, errFailed) {
		t.Fatalf("err = %v, want a non-zero exit after hashing the rest", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout %q, want one line for the one good file", out)
	}
	fields := strings.Split(lines[0], ",")
	if len(fields) != 3 || fields[2] != good {
		t.Fatalf("line %q, want hash,quality,path", lines[0])
	}
	if _, err := detector.ParseHash(fields[0]); err != nil {
		t.Fatalf("hash %q: %v", fields[0], err)
	}
	for _, name := range []string{"truncated.png", "notes.txt", "huge.png", "missing.png"} {
		if !strings.Contains(stderr, name) {
			t.Errorf("stderr does not name %s:\n%s", name, stderr)
		}
	}
	if !strings.Contains(stderr, "too large") {
		t.Errorf("huge image not refused by the pixel limit:\n%s", stderr)
	}
}

// writeHugeHeader writes a PNG whose header claims 100000x100000 pixels:
// it must be refused before any decoding.
func writeHugeHeader(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Encode a small image, then patch the IHDR dimensions and its CRC.
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for i, v := range []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0} {
		b[16+i] = v
	}
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// vigil hash video prints Meta's vPDQ format: same frame numbers and
// timestamps as the reference output for the same clip.
func TestHashVideoMatchesVPDQFormat(t *testing.T) {
	video := testenv.AnchorPath(t, "vpdq", "sample-videos", "pattern-sd-with-small-logo-bar.mp4")
	want, err := os.ReadFile(testenv.AnchorPath(t, "vpdq", "sample-hashes", "pattern-sd-with-small-logo-bar.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := vigil(t, context.Background(), nil, "hash", "video", video)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	ref := strings.Split(strings.TrimSpace(string(want)), "\n")
	if len(got) != len(ref) {
		t.Fatalf("%d lines, reference %d", len(got), len(ref))
	}
	for i := range got {
		g, r := strings.Split(got[i], ","), strings.Split(ref[i], ",")
		if len(g) != 4 || g[0] != r[0] || g[3] != r[3] {
			t.Fatalf("line %d: %q, reference %q", i, got[i], ref[i])
		}
		gh, err1 := detector.ParseHash(g[2])
		rh, err2 := detector.ParseHash(r[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("line %d: %v %v", i, err1, err2)
		}
		if d, _ := gh.Distance(rh); d > 16 {
			t.Errorf("frame %s: distance %d to the reference", g[0], d)
		}
	}
	out, _, err = vigil(t, context.Background(), nil, "hash", "video", "--every", "1s", video)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n < 5 || n > 9 {
		t.Fatalf("--every 1s gave %d lines for a %d-frame clip", n, len(ref))
	}
}
