//go:build !race

// The race detector's shadow memory makes RSS meaningless, so the soak runs
// in the plain test pass (make test runs both).

package sampler

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rss is the process's resident set in bytes: FFmpeg's allocations are C
// memory the Go heap statistics never see.
func rss(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// A decoder fed more than 20,000 packets, decoding every one, keeps its
// resident memory flat; so does opening and closing 300 samplers.
func TestSoakNoCMemoryGrowth(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	file := encode(t, "soak.mp4", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-s", "160x120")
	p, aus := demuxAll(t, file)
	const packets = 21000
	cfg := Config{Policy: Interval, Interval: 0, Buffers: 2}
	var stats Stats
	s, err := New(p, cfg, &stats)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan Frame, 2)
	span := time.Duration(len(aus)) * time.Second / 30
	var base int64
	for i := range packets {
		au := aus[i%len(aus)]
		loop := time.Duration(i/len(aus)) * span
		au.PTS += loop
		au.Arrival = au.Arrival.Add(loop)
		_ = s.Push(&au, out)
		for len(out) > 0 {
			f := <-out
			f.Release()
		}
		if i == 2000 {
			base = rss(t)
		}
	}
	end := rss(t)
	s.Close()
	t.Logf("%d packets, %d decoded, %d sampled: RSS %.1f MiB after warm-up, %.1f MiB at the end",
		packets, stats.Decoded.Load(), stats.Sampled.Load(), float64(base)/(1<<20), float64(end)/(1<<20))
	if stats.Decoded.Load() < packets*9/10 {
		t.Fatalf("decoded only %d of %d packets", stats.Decoded.Load(), packets)
	}
	if grow := end - base; grow > 4<<20 {
		t.Fatalf("RSS grew %.1f MiB over %d packets", float64(grow)/(1<<20), packets)
	}

	// glibc gives each OS thread that calls malloc an arena of its own, so
	// the test keeps FFmpeg's calls on one thread, and the first round
	// settles that arena: a sampler that leaks its decoder shows in the
	// second round too.
	churn := func() {
		for range 300 {
			s, err := New(p, DefaultConfig, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 40 {
				_ = s.Push(&aus[i], out)
				for len(out) > 0 {
					f := <-out
					f.Release()
				}
			}
			s.Close()
		}
	}
	churn()
	base = rss(t)
	churn()
	grow := rss(t) - base
	t.Logf("RSS grew %.1f MiB over the second 300 samplers", float64(grow)/(1<<20))
	if grow > 4<<20 {
		t.Fatalf("RSS grew %.1f MiB over 300 samplers", float64(grow)/(1<<20))
	}
}
