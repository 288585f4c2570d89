package pull

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		url        string
		allowFiles bool
		ok         bool
	}{
		{"rtmp://origin/live/cam", false, true},
		{"https://cdn.example/live.m3u8", false, true},
		{"srt://10.0.0.1:9000", false, true},
		{"file:///etc/passwd", false, false},
		{"/etc/passwd", false, false},
		{"/tmp/x.mp4", true, true},
		{"gopher://x", true, false},
		{"concat:a|b", false, false},
		{"::bad", false, false},
	}
	for _, tt := range tests {
		err := Check(tt.url, tt.allowFiles)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q, %v) = %v, want ok=%v", tt.url, tt.allowFiles, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrRefusedURL) {
			t.Errorf("Check(%q): %v is not ErrRefusedURL", tt.url, err)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := redact("rtmp://user:secret@origin/live/cam"); strings.Contains(got, "secret") {
		t.Fatalf("redact kept the password: %s", got)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("rtmp://origin/live/cam")
	f.Add("file:///x")
	f.Fuzz(func(t *testing.T, raw string) {
		if Check(raw, false) == nil && (strings.HasPrefix(raw, "file:") || !strings.Contains(raw, "://")) {
			t.Fatalf("accepted %q without files allowed", raw)
		}
		_ = redact(raw)
	})
}
