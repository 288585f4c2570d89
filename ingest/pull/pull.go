package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/sampler"
)

// Config tunes pulling.
type Config struct {
	// IOTimeout bounds each network read.
	IOTimeout time.Duration
	// Queue is the number of access units that may wait for the decoder.
	Queue int
	// AllowFiles also allows file: inputs (tests, benchmarks); a node
	// normally refuses them, since an admin call must not read local files.
	AllowFiles bool
	// Retries is how often a failed connection is retried, with backoff
	// doubling from one second, before the stream is given up.
	Retries int
}

// DefaultConfig is what the node uses.
var DefaultConfig = Config{IOTimeout: 10 * time.Second, Queue: 64, Retries: 3}

// networkProtocols are the FFmpeg protocols a pull may use.
const networkProtocols = "rtmp,rtmps,rtmpt,rtmpts,http,https,tls,tcp,udp,srt,hls,crypto,rtp,rtsp,httpproxy"

// ErrRefusedURL refuses a URL whose scheme the node does not pull.
var ErrRefusedURL = errors.New("pull: URL refused")

// Check reports whether raw is a URL the node may pull.
func Check(raw string, allowFiles bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefusedURL, err)
	}
	switch u.Scheme {
	case "rtmp", "rtmps", "http", "https", "srt", "rtsp", "udp", "tcp":
		if u.Host == "" {
			return fmt.Errorf("%w: %q has no host", ErrRefusedURL, raw)
		}
		return nil
	case "file", "":
		if allowFiles {
			return nil
		}
	}
	return fmt.Errorf("%w: scheme %q (rtmp, rtmps, http(s) for HLS, srt, rtsp, udp, tcp)", ErrRefusedURL, u.Scheme)
}

// Run registers stream name and samples source until the source ends, it
// fails for good, or the stream is told to end. It reports why the stream
// ended.
func Run(ctx context.Context, reg *ingest.Registry, source, name string, cfg Config, log *slog.Logger) error {
	if err := Check(source, cfg.AllowFiles); err != nil {
		return err
	}
	req := ingest.Request{Protocol: "pull", Name: name, Remote: redact(source)}
	if err := reg.Admit(ctx, req); err != nil {
		return err
	}
	st, err := reg.Open(ctx, req)
	if err != nil {
		return err
	}
	log = log.With("stream", st.ID, "proto", "pull", "source", redact(source))
	log.Info("stream started")
	err = pullLoop(st, source, cfg, log)
	st.End(err)
	if cause := context.Cause(st.Context()); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(err, io.EOF) {
		err = cause
	}
	log.Info("stream ended", "reason", err)
	return err
}

func pullLoop(st *ingest.Stream, source string, cfg Config, log *slog.Logger) error {
	protocols := networkProtocols
	if cfg.AllowFiles {
		protocols += ",file"
	}
	started := false
	backoff := time.Second
	for attempt := 0; ; attempt++ {
		err := pullOnce(st, source, protocols, cfg, &started)
		if errors.Is(err, io.EOF) || st.Context().Err() != nil {
			return err
		}
		if attempt >= cfg.Retries {
			return err
		}
		log.Warn("source failed; retrying", "err", err, "in", backoff)
		select {
		case <-st.Context().Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// pullOnce reads the source from the start until it ends or fails, pacing
// it to real time so a recording plays as a live stream would.
func pullOnce(st *ingest.Stream, source, protocols string, cfg Config, started *bool) error {
	d, err := sampler.OpenDemuxer(st.Context(), source, sampler.DemuxOptions{IOTimeout: cfg.IOTimeout, Protocols: protocols})
	if err != nil {
		return err
	}
	defer d.Close()
	if !*started {
		st.StartVideo(d.Params(), cfg.Queue)
		*started = true
	}
	t0 := time.Now()
	var au sampler.AccessUnit
	for {
		if err := d.Read(&au); err != nil {
			return err
		}
		if ahead := au.PTS - time.Since(t0); ahead > 50*time.Millisecond {
			select {
			case <-st.Context().Done():
				return context.Cause(st.Context())
			case <-time.After(ahead):
			}
		}
		au.Arrival = time.Now()
		st.Push(au)
	}
}

// redact drops credentials from a URL before it is logged or shown.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
