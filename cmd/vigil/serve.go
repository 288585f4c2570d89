package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
	cfg, check, err := config.LoadCheck("vigil serve", args, env)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(io.out, serveUsage)
		fs := flag.NewFlagSet("vigil serve", flag.ContinueOnError)
		def := config.Default()
		def.Bind(fs)
		fs.SetOutput(io.out)
		fs.PrintDefaults()
		return nil
	}
	if check {
		if err != nil {
			fmt.Fprintln(io.out, "configuration has problems:")
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintln(io.out, "  -", strings.TrimPrefix(line, "config: "))
			}
			return fmt.Errorf("%w: invalid configuration", errFailed)
		}
		fmt.Fprintln(io.out, "configuration ok")
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
	log.Info("push a stream with: ffmpeg -re -i INPUT -c:v libx264 -g 60 -f flv 'rtmp://localhost:"+port+"/"+cfg.RTMPApp+"/STREAM?key=KEY'",
		"auth", cfg.Auth)
	// SIGHUP reloads the index, as nginx and nats-server reload theirs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-hup:
				if _, err := n.ReloadIndex(); err == nil {
					log.Info("index reloaded on SIGHUP")
				}
			}
		}
	}()
	return n.Run(ctx)
}
