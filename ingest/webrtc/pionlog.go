package webrtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory sends pion's log lines to the node's logger at debug level:
// pion logs per packet and per peer, so a hostile peer could otherwise fill
// the node's log. Operators who need them run with --log-level debug.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("scope", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) debug(level, msg string) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(msg, "pion_level", level)
	}
}

func (l slogLogger) debugf(level, format string, args []any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "pion_level", level)
	}
}

func (l slogLogger) Trace(string)                   {}
func (l slogLogger) Tracef(string, ...any)          {}
func (l slogLogger) Debug(msg string)               { l.debug("debug", msg) }
func (l slogLogger) Debugf(format string, a ...any) { l.debugf("debug", format, a) }
func (l slogLogger) Info(msg string)                { l.debug("info", msg) }
func (l slogLogger) Infof(format string, a ...any)  { l.debugf("info", format, a) }
func (l slogLogger) Warn(msg string)                { l.debug("warn", msg) }
func (l slogLogger) Warnf(format string, a ...any)  { l.debugf("warn", format, a) }
func (l slogLogger) Error(msg string)               { l.debug("error", msg) }
func (l slogLogger) Errorf(format string, a ...any) { l.debugf("error", format, a) }
