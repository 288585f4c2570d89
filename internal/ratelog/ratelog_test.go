package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoggerLimitsAndCounts(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 50*time.Millisecond)
	for range 100 {
		l.Warn("decode error", "stream", "s1")
	}
	if n := strings.Count(buf.String(), "decode error"); n != 1 {
		t.Fatalf("%d lines in a burst, want 1:\n%s", n, buf.String())
	}
	time.Sleep(60 * time.Millisecond)
	l.Info("decode error", "stream", "s1")
	out := buf.String()
	if n := strings.Count(out, "decode error"); n != 2 || !strings.Contains(out, "suppressed=99") {
		t.Fatalf("after the interval: %d lines, want 2 with suppressed=99:\n%s", n, out)
	}
}
