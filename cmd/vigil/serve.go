package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"

	"github.com/vigilstream/vigil/internal/config"
	"github.com/vigilstream/vigil/internal/node"
	"github.com/vigilstream/vigil/sampler"
)

const serveUsage = `Usage: vigil serve [flags]

Runs a node: RTMP ingest, keyframe sampling, hash matching against --index,
block signals over NATS (embedded server unless --nats-url is given).
Every flag can also be set with the environment variable named beside it.

Example:
  vigil serve --index demo/hashes.txt --rtmp-addr :1935 --http-addr :8080
  ffmpeg -re -i video.mp4 -c:v libx264 -f flv rtmp://localhost:1935/live/mystream

Flags:
`

func runServe(ctx context.Context, args, env []string, io stdio) error {
	cfg, err := config.Load("vigil serve", args, env)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(io.out, serveUsage)
		fs := flag.NewFlagSet("vigil serve", flag.ContinueOnError)
		def := config.Default()
		def.Bind(fs)
		fs.SetOutput(io.out)
		fs.PrintDefaults()
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	log := newLogger(io.err, cfg.LogFormat, cfg.LogLevel)
	sampler.RouteFFmpegLogs(log.With("component", "ffmpeg"))
	n, err := node.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(n.RTMPAddr().String())
	log.Info("push a stream with: ffmpeg -re -i INPUT -c:v libx264 -g 60 -f flv rtmp://localhost:" + port + "/" + cfg.RTMPApp + "/mystream")
	return n.Run(ctx)
}
