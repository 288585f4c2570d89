package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/vigilstream/vigil/sampler"
)

// errUsage marks a command line that could not be understood; the exit code
// is then 2.
var errUsage = errors.New("usage")

// errFailed marks a command that reported its own errors and only needs a
// non-zero exit.
var errFailed = errors.New("failed")

const usage = `vigil: a media ingest node that samples live streams, hashes frames
perceptually and blocks streams that show known material.

Usage:
  vigil serve [flags]                         run a node (vigil serve --help)
  vigil hash image FILE...                    one line per file: hash,quality,path
  vigil hash video [--every D] FILE           vPDQ lines: frameNumber,quality,pdq_hex,timestampSeconds
  vigil index build -o OUT SOURCE...          compile hash lists into an index file
  vigil index publish INDEX                   make INDEX the fleet's index (JetStream object store)
  vigil scan --index INDEX FILE|URL...        offline: sample, hash, match; JSON lines of matches
  vigil signals tail [--nats-url URL]         print block, match and stream events as they arrive
  vigil jobs submit --url URL --name NAME     have one node of the fleet join a stream
  vigil jobs ls                               nodes, their capacity and jobs
  vigil blocklist ls|rm                       list or lift the fleet's blocks on keys and addresses

Example:
  vigil serve --index demo/hashes.txt
`

type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	io := stdio{stdin, stdout, stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	if len(args) > 0 && args[0] != "serve" {
		// Tools report their own errors; FFmpeg's warnings go to stderr
		// as log lines, rate-limited, never its informational chatter.
		sampler.RouteFFmpegLogs(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], env, io)
	case "hash":
		return runHash(ctx, args[1:], io)
	case "index":
		if len(args) > 1 && args[1] == "publish" {
			return runIndexPublish(ctx, args[2:], env, io)
		}
		return runIndex(ctx, args[1:], stdin, stdout, stderr)
	case "scan":
		return runScan(ctx, args[1:], io)
	case "signals":
		return runSignals(ctx, args[1:], env, io)
	case "jobs":
		return runJobs(ctx, args[1:], env, io)
	case "blocklist":
		return runBlocklist(ctx, args[1:], env, io)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// isTerminal reports whether w is a terminal: progress goes there, and
// nowhere when output is piped or logged.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
