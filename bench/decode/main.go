// Command decode measures what sampling costs: CPU seconds per minute of
// video for each sampling policy of `vigil scan`, next to ffmpeg decoding
// the same file keyframes-only and fully, in the same run.
//
// Goal (issue 5): the keyframe policy within 1.2x of
// `ffmpeg -threads 1 -skip_frame nokey -i X -f null -`, and at least 50
// streams per core at 1080p30 with a 2 s GOP under the adaptive policy.
//
//	go build -o bin/vigil ./cmd/vigil && go run ./bench/decode -runs 5
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type input struct {
	name   string
	file   string
	encode []string
}

type measure struct {
	label string
	cmd   func(file string) []string
}

func main() {
	runs := flag.Int("runs", 5, "runs of each measurement; the median is reported")
	dir := flag.String("dir", "bench/out", "where generated inputs are kept between runs")
	vigil := flag.String("vigil", "bin/vigil", "the vigil binary")
	seconds := flag.Int("seconds", 60, "length of the generated clips")
	flag.Parse()
	if err := run(*runs, *dir, *vigil, *seconds); err != nil {
		fmt.Fprintln(os.Stderr, "decode:", err)
		os.Exit(1)
	}
}

func run(runs int, dir, vigil string, seconds int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dur := fmt.Sprint(seconds)
	inputs := []input{
		{"1080p30 H.264, 2 s GOP, B-frames", "h264-1080p.mp4", []string{"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=" + dur,
			"-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-b:v", "6M", "-pix_fmt", "yuv420p"}},
		{"720p30 VP8, 2 s GOP", "vp8-720p.webm", []string{"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=" + dur,
			"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "60", "-keyint_min", "60", "-b:v", "2500k", "-pix_fmt", "yuv420p"}},
		{"720p30 AV1, 2 s GOP", "av1-720p.mkv", []string{"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=" + dur,
			"-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-g", "60", "-keyint_min", "60", "-b:v", "1500k", "-pix_fmt", "yuv420p"}},
	}
	list := filepath.Join(dir, "one.txt")
	// One PDQ entry, so every sample is hashed and queried as it is live.
	if err := os.WriteFile(list, []byte(strings.Repeat("f", 64)+",bench\n"), 0o644); err != nil {
		return err
	}
	scan := func(policy string, extra ...string) func(string) []string {
		return func(f string) []string {
			return append([]string{vigil, "scan", "--index", list, "--policy", policy, "--random-samples", "0"}, append(extra, f)...)
		}
	}
	measures := []measure{
		{"ffmpeg -skip_frame nokey (baseline)", func(f string) []string {
			return []string{"ffmpeg", "-hide_banner", "-loglevel", "error", "-threads", "1", "-skip_frame", "nokey", "-i", f, "-f", "null", "-"}
		}},
		{"ffmpeg full decode", func(f string) []string {
			return []string{"ffmpeg", "-hide_banner", "-loglevel", "error", "-threads", "1", "-i", f, "-f", "null", "-"}
		}},
		{"vigil keyframe", scan("keyframe")},
		{"vigil adaptive", scan("adaptive")},
		{"vigil adaptive + 2 random/min", func(f string) []string {
			return []string{vigil, "scan", "--index", list, "--policy", "adaptive", "--random-samples", "2", "--seed", "7", f}
		}},
		{"vigil interval 1 s", scan("interval")},
	}

	for _, in := range inputs {
		path := filepath.Join(dir, in.file)
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(os.Stderr, "generating %s ...\n", in.file)
			args := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, in.encode...)
			if out, err := exec.Command("ffmpeg", append(args, path)...).CombinedOutput(); err != nil {
				return fmt.Errorf("encode %s: %v\n%s", in.file, err, out)
			}
		}
		fmt.Printf("\n%s (%s s), CPU seconds per minute of video, median of %d runs:\n\n", in.name, dur, runs)
		fmt.Println("| decoder and policy | CPU s / min | × ffmpeg nokey | streams per core |")
		fmt.Println("|---|---|---|---|")
		var base float64
		for _, m := range measures {
			var cpus []float64
			for range runs {
				cpu, err := cpuSeconds(m.cmd(path))
				if err != nil {
					return err
				}
				cpus = append(cpus, cpu)
			}
			slices.Sort(cpus)
			perMin := cpus[len(cpus)/2] * 60 / float64(seconds)
			if base == 0 {
				base = perMin
			}
			fmt.Printf("| %s | %.2f | %.2f | %.0f |\n", m.label, perMin, perMin/base, 60/perMin)
		}
	}
	return nil
}

// cpuSeconds runs a command and returns the user plus system CPU time of
// the process.
func cpuSeconds(argv []string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	st := cmd.ProcessState
	return (st.UserTime() + st.SystemTime()).Seconds(), nil
}
