package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// PublishOptions describe a synthetic live stream.
type PublishOptions struct {
	// Duration of the stream (default 30 s).
	Duration time.Duration
	// Size of the picture (default 640x360).
	Size string
	// Image, when set, is a picture file shown full-frame over the moving
	// test pattern from ImageAt on.
	Image   string
	ImageAt time.Duration
	// Codec is the ffmpeg video encoder (default libx264).
	Codec string
	// GOP is the keyframe interval in frames at 30 fps (default 60: 2 s).
	GOP int
}

// Publisher is a running ffmpeg that pushes a synthetic stream in real time
// to an RTMP URL.
type Publisher struct {
	Started time.Time

	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
	mu     sync.Mutex
	err    error
	exited time.Time
}

// Publish starts ffmpeg publishing to url; the test's cleanup kills it.
func Publish(tb testing.TB, url string, o PublishOptions) *Publisher {
	tb.Helper()
	if o.Duration == 0 {
		o.Duration = 30 * time.Second
	}
	if o.Size == "" {
		o.Size = "640x360"
	}
	if o.Codec == "" {
		o.Codec = "libx264"
	}
	if o.GOP == 0 {
		o.GOP = 60
	}
	secs := strconv.FormatFloat(o.Duration.Seconds(), 'f', 3, 64)
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=" + o.Size + ":rate=30"}
	if o.Image != "" {
		w, h, _ := bytes.Cut([]byte(o.Size), []byte("x"))
		at := strconv.FormatFloat(o.ImageAt.Seconds(), 'f', 3, 64)
		args = append(args, "-re", "-loop", "1", "-framerate", "30", "-i", o.Image,
			"-filter_complex", fmt.Sprintf("[1:v]scale=%s:%s,format=yuv420p[img];[0:v][img]overlay=enable='gte(t,%s)':shortest=1,format=yuv420p[v]", w, h, at),
			"-map", "[v]")
	} else {
		args = append(args, "-pix_fmt", "yuv420p")
	}
	args = append(args, "-t", secs, "-c:v", o.Codec)
	if o.Codec == "libx264" {
		args = append(args, "-preset", "ultrafast", "-tune", "zerolatency")
	}
	args = append(args, "-g", strconv.Itoa(o.GOP), "-f", "flv", url)

	p := &Publisher{done: make(chan struct{})}
	p.cmd = exec.Command(FFmpeg(tb), args...)
	p.cmd.Stderr = &p.stderr
	p.Started = time.Now()
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start ffmpeg: %v", err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err, p.exited = err, time.Now()
		p.mu.Unlock()
		close(p.done)
	}()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// Done is closed when ffmpeg has exited.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Exit returns when ffmpeg exited and its exit error; valid after Done.
func (p *Publisher) Exit() (time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited, p.err
}

// Stderr is what ffmpeg printed; valid after Done.
func (p *Publisher) Stderr() string {
	<-p.done
	return p.stderr.String()
}

// Running reports whether ffmpeg is still running.
func (p *Publisher) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill ends ffmpeg abruptly, as a crashed encoder or a cut cable would.
func (p *Publisher) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// WaitExit waits up to timeout for ffmpeg to exit.
func (p *Publisher) WaitExit(ctx context.Context, timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	case <-ctx.Done():
		return false
	}
}
