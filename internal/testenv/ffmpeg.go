package testenv

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"
)

// FFmpeg returns the path of the ffmpeg CLI; the test fails without it, as
// `make test` installs it.
func FFmpeg(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		tb.Fatalf("ffmpeg not found (make test installs it): %v", err)
	}
	return p
}

// RunFFmpeg runs ffmpeg with args to completion and fails the test on error.
func RunFFmpeg(tb testing.TB, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)
	cmd := exec.CommandContext(ctx, FFmpeg(tb), full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.String())
	}
}

// FFmpegOutput runs ffmpeg with args and returns its standard output.
func FFmpegOutput(tb testing.TB, args ...string) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin"}, args...)
	cmd := exec.CommandContext(ctx, FFmpeg(tb), full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.String())
	}
	return out
}
