package node

import (
	"log/slog"
	"sync"
	"time"
)

// limitedLog logs at most once per interval and says how many lines it
// swallowed: a broken stream must not flood the node's log.
type limitedLog struct {
	log      *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newLimitedLog(log *slog.Logger, interval time.Duration) *limitedLog {
	return &limitedLog{log: log, interval: interval}
}

func (l *limitedLog) Warn(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < l.interval {
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
	l.log.Warn(msg, args...)
}
