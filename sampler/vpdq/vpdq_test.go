package vpdq

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/internal/testenv"
)

// readHashes reads a vPDQ output file: "frameNumber,quality,hex,seconds".
func readHashes(t *testing.T, path string) []Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Frame
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 4 {
			t.Fatalf("%s:%d: %d fields", path, line, len(fields))
		}
		n, err1 := strconv.Atoi(fields[0])
		q, err2 := strconv.Atoi(fields[1])
		h, err3 := detector.ParseHashAs(detector.PDQ, fields[2])
		ts, err4 := strconv.ParseFloat(fields[3], 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		out = append(out, Frame{Number: n, Quality: q, Hash: h, Timestamp: ts})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func hashAll(t *testing.T, path string, opts Options) ([]Frame, Summary) {
	t.Helper()
	var frames []Frame
	sum, err := HashFile(context.Background(), path, opts, func(f Frame) error {
		frames = append(frames, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return frames, sum
}

func percentile(sorted []int, p float64) int {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// TestConformance hashes every sample video that has Meta's vPDQ output
// beside it (not the -128x128 ones, which were hashed after shrinking the
// frames) and compares frame by frame. Goals: the same frame count, the
// same timestamps to 3 decimals, per-frame Hamming distance median <= 6
// and 95th percentile <= 16.
func TestConformance(t *testing.T) {
	videos := testenv.AnchorPath(t, "vpdq", "sample-videos")
	hashes := testenv.AnchorPath(t, "vpdq", "sample-hashes")
	entries, err := os.ReadDir(videos)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".mp4")
		want := filepath.Join(hashes, name+".txt")
		if _, err := os.Stat(want); err != nil {
			t.Logf("%s: no sample hashes, skipped", name)
			continue
		}
		if raceDetector && name != "doorknob-hd-no-bar" && name != "test-padded-dimensions" {
			// The package starts no goroutines, so the race detector has
			// nothing to find here; two videos keep the -race run short.
			t.Logf("%s: skipped under the race detector", name)
			continue
		}
		checked++
		t.Run(name, func(t *testing.T) {
			expected := readHashes(t, want)
			got, sum := hashAll(t, filepath.Join(videos, e.Name()), Options{})
			if len(got) != len(expected) || sum.Frames != len(expected) || sum.Hashed != len(expected) {
				t.Fatalf("%d frames hashed (%d decoded), vPDQ %d", len(got), sum.Frames, len(expected))
			}
			var ds []int
			qualitySame, tsDiffs := 0, 0
			for i, g := range got {
				w := expected[i]
				if g.Number != w.Number {
					t.Fatalf("frame %d numbered %d, vPDQ %d", i, g.Number, w.Number)
				}
				if a, b := fmt.Sprintf("%.3f", g.Timestamp), fmt.Sprintf("%.3f", w.Timestamp); a != b {
					tsDiffs++
					if tsDiffs <= 3 {
						t.Errorf("frame %d at %s s, vPDQ %s s", i, a, b)
					}
				}
				if g.Quality == w.Quality {
					qualitySame++
				}
				ds = append(ds, g.Hash.Code.Distance(w.Hash.Code))
			}
			slices.Sort(ds)
			med, p95 := percentile(ds, 0.5), percentile(ds, 0.95)
			t.Logf("%-32s %dx%d %3d frames: distance median %d p95 %d max %d; quality equal %d/%d; timestamps differing %d",
				name, sum.Width, sum.Height, len(got), med, p95, ds[len(ds)-1], qualitySame, len(got), tsDiffs)
			if med > 6 || p95 > 16 {
				t.Errorf("distance median %d (goal <= 6), p95 %d (goal <= 16)", med, p95)
			}
		})
	}
	if checked == 0 {
		t.Fatal("no sample video with sample hashes")
	}
}

// TestEvery hashes one frame per second of a 30 fps video: frames 0, 30,
// 60, ... with the timestamps of a full run.
func TestEvery(t *testing.T) {
	path := testenv.AnchorPath(t, "vpdq", "sample-videos", "doorknob-hd-no-bar.mp4")
	all, _ := hashAll(t, path, Options{})
	some, sum := hashAll(t, path, Options{Every: time.Second})
	if sum.Frames != len(all) {
		t.Fatalf("decoded %d frames, full run hashed %d", sum.Frames, len(all))
	}
	want := (len(all) + 29) / 30
	if len(some) != want || sum.Hashed != want {
		t.Fatalf("hashed %d frames of %d, want %d", len(some), len(all), want)
	}
	for i, f := range some {
		if f != all[30*i] {
			t.Errorf("hash %d: %v, want frame %d: %v", i, f, 30*i, all[30*i])
		}
	}
}

func TestStopEarly(t *testing.T) {
	path := testenv.AnchorPath(t, "vpdq", "sample-videos", "doorknob-hd-no-bar.mp4")
	stop := errors.New("enough")
	n := 0
	_, err := HashFile(context.Background(), path, Options{}, func(Frame) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 5 {
		t.Fatalf("callback error: %v after %d frames", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	_, err = HashFile(ctx, path, Options{}, func(Frame) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n > 10 {
		t.Fatalf("cancelled: %v after %d frames", err, n)
	}
}

// wavFile writes a short silent WAV: a media file FFmpeg opens that has no
// video stream.
func wavFile(t *testing.T) string {
	t.Helper()
	const rate, samples = 8000, 800
	var b []byte
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, 36+2*samples)
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1) // PCM
	b = binary.LittleEndian.AppendUint16(b, 1) // mono
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, 2*rate)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, 2*samples)
	b = append(b, make([]byte, 2*samples)...)
	path := filepath.Join(t.TempDir(), "silence.wav")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.mp4")
	if err := os.WriteFile(text, []byte("not a video at all, just some words\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noop := func(Frame) error { return nil }
	for _, tt := range []struct {
		name string
		path string
		is   error
	}{
		{"missing", filepath.Join(dir, "missing.mp4"), nil},
		{"text", text, nil},
		{"audio only", wavFile(t), ErrNoVideo},
	} {
		_, err := HashFile(context.Background(), tt.path, Options{}, noop)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.path+": ") {
			t.Errorf("%s: %q does not start with the file name", tt.name, err)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.is)
		}
		t.Logf("%-10s %v", tt.name, err)
	}

	// A video cut short or damaged in the middle (the sample has its index
	// first): the frames before the damage are hashed and reported, nothing
	// crashes.
	data, err := os.ReadFile(testenv.AnchorPath(t, "vpdq", "sample-videos", "doorknob-hd-no-bar.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	damaged := slices.Clone(data)
	for i := len(data) / 2; i < len(data)/2+4096; i++ {
		damaged[i] = byte(i * 131)
	}
	for _, tt := range []struct {
		name      string
		data      []byte
		minFrames int
	}{
		{"cut at 1/3", data[:len(data)/3], 20},
		{"cut at 2/3", data[:len(data)*2/3], 50},
		{"damaged", damaged, 100},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tt.name, "/", "-")+".mp4")
		if err := os.WriteFile(p, tt.data, 0o600); err != nil {
			t.Fatal(err)
		}
		n := 0
		sum, err := HashFile(context.Background(), p, Options{}, func(f Frame) error {
			if f.Number != n || f.Hash.Algorithm != detector.PDQ {
				return fmt.Errorf("bad frame %v", f)
			}
			n++
			return nil
		})
		t.Logf("%-10s %d of 120 frames hashed, %d decode errors, err %v", tt.name, sum.Hashed, sum.DecodeErrors, err)
		if err != nil && !strings.HasPrefix(err.Error(), p+": ") {
			t.Errorf("%s: %q does not start with the file name", tt.name, err)
		}
		if sum.Hashed < tt.minFrames {
			t.Errorf("%s: %d frames hashed, want at least %d", tt.name, sum.Hashed, tt.minFrames)
		}
	}
}

// TestNoLeaks hashes a video repeatedly and watches the process's resident
// memory, which sees FFmpeg's allocations (the Go heap does not): a frame
// or packet not freed per frame would add hundreds of megabytes.
func TestNoLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("repeated decoding")
	}
	if raceDetector {
		// The race detector's shadow memory grows with what the runs
		// touch, so RSS says nothing about FFmpeg here.
		t.Skip("RSS is not meaningful under the race detector")
	}
	path := testenv.AnchorPath(t, "vpdq", "sample-videos", "doorknob-hd-no-bar.mp4")
	// glibc gives each OS thread that calls malloc an arena of its own;
	// keeping FFmpeg's calls on one thread keeps arenas from reading as a
	// leak on a machine with many cores.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	run := func() {
		if _, err := HashFile(context.Background(), path, Options{}, func(Frame) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	run()
	before := rss(t)
	const runs = 6
	for range runs {
		run()
	}
	runtime.GC()
	debug.FreeOSMemory()
	after := rss(t)
	t.Logf("RSS %d MiB before, %d MiB after %d more runs of 120 frames at 1280x720", before>>20, after>>20, runs)
	if after-before > 48<<20 {
		t.Errorf("RSS grew by %d MiB over %d runs", (after-before)>>20, runs)
	}
}

func rss(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no /proc/self/status")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func TestFrameString(t *testing.T) {
	h, _ := detector.ParseHash("e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c")
	f := Frame{Number: 2, Quality: 100, Hash: h, Timestamp: 2.0 / 30}
	if got, want := f.String(), "2,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.067"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
