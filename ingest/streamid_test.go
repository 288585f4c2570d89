package ingest

import (
	"errors"
	"strings"
	"testing"
)

func TestStreamID(t *testing.T) {
	tests := []struct{ name, want string }{
		{"cam1", "cam1"},
		{"a.b*>", "a%2Eb%2A%3E"},
		{"with space", "with%20space"},
		{"50%", "50%25"},
		{"ünï", "%C3%BCn%C3%AF"},
	}
	for _, tt := range tests {
		got, err := StreamID(tt.name)
		if err != nil || got != tt.want {
			t.Errorf("StreamID(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", MaxStreamNameBytes+1)} {
		if _, err := StreamID(bad); !errors.Is(err, ErrBadStreamName) {
			t.Errorf("StreamID(%d bytes) err = %v", len(bad), err)
		}
	}
}

func FuzzStreamID(f *testing.F) {
	f.Add("a.b*>")
	f.Add("cam 1")
	f.Fuzz(func(t *testing.T, name string) {
		id, err := StreamID(name)
		if err != nil {
			return
		}
		if strings.ContainsAny(id, ".*> \t\r\n") || id == "" {
			t.Fatalf("StreamID(%q) = %q is not a safe subject token", name, id)
		}
		for i := 0; i < len(id); i++ {
			if id[i] < 0x21 || id[i] > 0x7e {
				t.Fatalf("StreamID(%q) = %q has byte %#x", name, id, id[i])
			}
		}
	})
}
