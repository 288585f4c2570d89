package sampler

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
)

// RouteFFmpegLogs sends FFmpeg's own messages (warnings and errors only) to
// logger instead of stderr, at most one line a second: a corrupt stream
// makes FFmpeg complain per slice, which must not flood the node's log.
// FFmpeg's log is process-wide, so this is called once by the binary.
func RouteFFmpegLogs(logger *slog.Logger) {
	var mu sync.Mutex
	var last time.Time
	var suppressed int
	astiav.SetLogLevel(astiav.LogLevelWarning)
	astiav.SetLogCallback(func(c astiav.Classer, l astiav.LogLevel, _, msg string) {
		mu.Lock()
		now := time.Now()
		if now.Sub(last) < time.Second {
			suppressed++
			mu.Unlock()
			return
		}
		n := suppressed
		last, suppressed = now, 0
		mu.Unlock()
		level := slog.LevelWarn
		if l <= astiav.LogLevelError {
			level = slog.LevelError
		}
		attrs := []slog.Attr{slog.String("text", strings.TrimSpace(msg))}
		if n > 0 {
			attrs = append(attrs, slog.Int("suppressed", n))
		}
		logger.LogAttrs(context.Background(), level, "ffmpeg", attrs...)
	})
}

// SilenceFFmpegLogs turns FFmpeg's own log off (tests and CLI tools that
// report errors themselves).
func SilenceFFmpegLogs() {
	astiav.SetLogLevel(astiav.LogLevelQuiet)
}
