// Command webrtc measures the node's WebRTC ingest against its RTMP ingest
// on the same content in the same run, and the time from a WHIP POST to the
// stream's first sample:
//
//	go run ./bench/webrtc -streams 4 -runs 3
//
// The node runs in this process; every publisher runs in a child process
// (ffmpeg for RTMP, this program with -publish for WHIP), so the process's
// own CPU time (getrusage) is the node's: RTP or RTMP reading,
// depacketizing, adaptive sampling (keyframes decoded), hashing and
// matching. Streams are 1280x720 at 30 fps, H.264 at 2.5 Mbit/s with a
// keyframe every 2 s, so the default adaptive policy decodes keyframes
// only. CPU is reported as a percentage of one core per stream, medians
// over the runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/vigilstream/vigil/internal/config"
	"github.com/vigilstream/vigil/internal/node"
	"github.com/vigilstream/vigil/sampler"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/webrtc:", err)
		os.Exit(1)
	}
}

type options struct {
	streams, runs, firstSamples int
	warmup, window              time.Duration
	publishURL, clip            string
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("webrtc", flag.ContinueOnError)
	fs.IntVar(&o.streams, "streams", 4, "streams published at once per protocol")
	fs.IntVar(&o.runs, "runs", 3, "measurement runs per protocol (alternating)")
	fs.IntVar(&o.firstSamples, "first-samples", 10, "WHIP sessions timed from POST to first sample")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "time streams run before a measurement window")
	fs.DurationVar(&o.window, "window", 20*time.Second, "measurement window")
	fs.StringVar(&o.publishURL, "publish", "", "internal: publish -clip to this WHIP URL until killed")
	fs.StringVar(&o.clip, "clip", "", "internal: Annex-B clip for -publish")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.publishURL != "" {
		return publishUntilDone(ctx, o.publishURL, o.clip)
	}
	sampler.SilenceFFmpegLogs()

	dir, err := os.MkdirTemp("", "vigil-bench-webrtc")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	h264, flv, err := makeClip(ctx, dir)
	if err != nil {
		return err
	}
	n, err := startNode(ctx, dir)
	if err != nil {
		return err
	}
	defer n.stop()

	var rtmpCPU, whipCPU []float64
	for r := range o.runs {
		c, err := measure(ctx, n.node, o, func(i int) (*exec.Cmd, error) {
			url := fmt.Sprintf("rtmp://%s/live/rtmp-%d-%d", n.node.RTMPAddr(), r, i)
			return exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
				"-re", "-stream_loop", "-1", "-i", flv, "-c", "copy", "-f", "flv", url), nil
		})
		if err != nil {
			return fmt.Errorf("rtmp run %d: %w", r, err)
		}
		rtmpCPU = append(rtmpCPU, c)
		c, err = measure(ctx, n.node, o, func(i int) (*exec.Cmd, error) {
			url := fmt.Sprintf("http://%s/whip/whip-%d-%d", n.node.HTTPAddr(), r, i)
			return exec.CommandContext(ctx, os.Args[0], "-publish", url, "-clip", h264), nil
		})
		if err != nil {
			return fmt.Errorf("whip run %d: %w", r, err)
		}
		whipCPU = append(whipCPU, c)
		fmt.Printf("run %d: CPU per stream: RTMP %.2f%%, WebRTC %.2f%% of a core\n", r+1, rtmpCPU[r], whipCPU[r])
	}

	first, err := firstSampleTimes(ctx, n.node, h264, o.firstSamples)
	if err != nil {
		return err
	}
	fmt.Printf("\n720p30 H.264 2.5 Mbit/s, GOP 2 s, %d streams at once, %s windows, %d runs (medians):\n", o.streams, o.window, o.runs)
	fmt.Printf("  CPU per stream, RTMP:   %.2f%% of a core\n", median(rtmpCPU))
	fmt.Printf("  CPU per stream, WebRTC: %.2f%% of a core\n", median(whipCPU))
	fmt.Printf("  WHIP POST to first sample: median %s, min %s, max %s (%d sessions)\n",
		time.Duration(median(first)).Round(time.Millisecond), time.Duration(slices.Min(first)).Round(time.Millisecond),
		time.Duration(slices.Max(first)).Round(time.Millisecond), len(first))
	return nil
}

// makeClip encodes 10 s of a moving test pattern once, as Annex-B for WHIP
// and the same bitstream in FLV for RTMP.
func makeClip(ctx context.Context, dir string) (h264, flv string, err error) {
	h264, flv = filepath.Join(dir, "clip.h264"), filepath.Join(dir, "clip.flv")
	steps := [][]string{
		{"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "10", "-pix_fmt", "yuv420p",
			"-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-bf", "0",
			"-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
			"-x264-params", "sliced-threads=0", "-f", "h264", h264},
		{"-r", "30", "-i", h264, "-c", "copy", "-f", "flv", flv},
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("ffmpeg %v: %w: %s", args, err, out)
		}
	}
	return h264, flv, nil
}

type runningNode struct {
	node   *node.Node
	cancel context.CancelFunc
	done   chan error
}

func (r *runningNode) stop() {
	r.cancel()
	<-r.done
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startNode(ctx context.Context, dir string) (*runningNode, error) {
	nats, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load("bench", []string{
		"--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--nats-listen", nats,
		"--data-dir", dir, "--node-id", "bench", "--webrtc-ips", "127.0.0.1", "--log-level", "warn",
	}, nil)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx, cancel := context.WithCancel(ctx)
	n, err := node.New(ctx, cfg, log)
	if err != nil {
		cancel()
		return nil, err
	}
	r := &runningNode{node: n, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- n.Run(ctx) }()
	return r, nil
}

// measure starts o.streams publishers, lets them settle, and returns the
// process's CPU time over the window as a percentage of one core per
// stream.
func measure(ctx context.Context, n *node.Node, o options, publisher func(i int) (*exec.Cmd, error)) (float64, error) {
	var cmds []*exec.Cmd
	defer func() {
		// Publishers leave cleanly (ffmpeg closes its socket, a WHIP
		// child its DTLS session), and the next phase starts from a
		// node with no stream.
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			t := time.AfterFunc(5*time.Second, func() { _ = c.Process.Kill() })
			_ = c.Wait()
			t.Stop()
		}
		for deadline := time.Now().Add(15 * time.Second); n.Registry().Len() > 0 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	}()
	for i := range o.streams {
		c, err := publisher(i)
		if err != nil {
			return 0, err
		}
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			return 0, err
		}
		cmds = append(cmds, c)
	}
	if err := sleep(ctx, o.warmup); err != nil {
		return 0, err
	}
	before := cpuTime()
	if err := sleep(ctx, o.window); err != nil {
		return 0, err
	}
	used := cpuTime() - before
	for _, c := range cmds {
		if c.ProcessState != nil {
			return 0, errors.New("a publisher exited during the window")
		}
	}
	// Every stream must have been live and sampled, or the figure means
	// nothing.
	live := n.Registry().List()
	if len(live) != o.streams {
		return 0, fmt.Errorf("%d streams live, want %d", len(live), o.streams)
	}
	for _, st := range live {
		if st.Stats.Sampled.Load() == 0 || st.Stats.DecodeErrors.Load() != 0 {
			return 0, fmt.Errorf("stream %s: %d samples, %d decode errors", st.ID, st.Stats.Sampled.Load(), st.Stats.DecodeErrors.Load())
		}
	}
	return 100 * used.Seconds() / o.window.Seconds() / float64(o.streams), nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// firstSampleTimes publishes count WHIP sessions one after another and
// times each from just before its POST to its stream's first sample.
func firstSampleTimes(ctx context.Context, n *node.Node, clip string, count int) ([]float64, error) {
	frames, err := readClip(clip)
	if err != nil {
		return nil, err
	}
	var out []float64
	for i := range count {
		name := "first-" + strconv.Itoa(i)
		url := fmt.Sprintf("http://%s/whip/%s", n.HTTPAddr(), name)
		start := time.Now()
		p, err := publish(ctx, url, frames)
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := n.Registry().Get(name)
			if st != nil && st.Stats.Sampled.Load() > 0 {
				out = append(out, float64(time.Since(start)))
				break
			}
			if time.Now().After(deadline) {
				p.close()
				return nil, fmt.Errorf("%s: no sample within 10 s", name)
			}
			time.Sleep(time.Millisecond)
		}
		p.close()
		for n.Registry().Get(name) != nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
