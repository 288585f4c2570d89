// Package ratelog is logging that cannot flood: a Logger writes at most one
// line per interval and says, on the next line it writes, how many it
// swallowed. A broken stream or a flood of bad connections must not bury
// the node's log.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Logger rate-limits one kind of log line. It is safe for concurrent use.
type Logger struct {
	log      *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// New returns a Logger writing to log at most once per interval.
func New(log *slog.Logger, interval time.Duration) *Logger {
	return &Logger{log: log, interval: interval}
}

// Info logs at info level, unless a line went out less than an interval ago.
func (l *Logger) Info(msg string, args ...any) { l.emit(slog.LevelInfo, msg, args) }

// Warn logs at warning level, unless a line went out less than an interval
// ago.
func (l *Logger) Warn(msg string, args ...any) { l.emit(slog.LevelWarn, msg, args) }

func (l *Logger) emit(level slog.Level, msg string, args []any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
