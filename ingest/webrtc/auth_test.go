package webrtc

import (
	"errors"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	tok, err := ParseTokens(" all-streams , cam1=c1-secret,cam1=c1-other, padded== ,cam2=YWJjZGU= ")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		stream, header string
		want           bool
	}{
		{"any", "Bearer all-streams", true},
		{"any", "bearer all-streams", true},
		{"any", "Bearer  all-streams ", true},
		{"any", "Bearer padded==", true},
		{"cam1", "Bearer c1-secret", true},
		{"cam1", "Bearer c1-other", true},
		{"cam2", "Bearer YWJjZGU=", true},
		{"cam2", "Bearer c1-secret", false},
		{"any", "Bearer c1-secret", false},
		{"any", "Basic all-streams", false},
		{"any", "all-streams", false},
		{"any", "", false},
		{"any", "Bearer ", false},
		{"any", "Bearer all-streams2", false},
		{"any", "Bearer all-stream", false},
	}
	for _, tt := range tests {
		if got := tok.Allow(tt.stream, tt.header); got != tt.want {
			t.Errorf("Allow(%q, %q) = %v, want %v", tt.stream, tt.header, got, tt.want)
		}
	}
	var open Tokens
	if !open.Empty() || !open.Allow("x", "") {
		t.Error("no tokens configured must let everyone in")
	}
	for _, bad := range []string{"=tokentoken", "cam=", "short", "with space in it", "cam=bad secret", "ümlaut-token", strings.Repeat("x", maxTokenBytes+1), "========"} {
		if _, err := ParseTokens(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("ParseTokens(%q) err = %v, want ErrBadToken", bad, err)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("error %q repeats the secret", err)
		}
	}
}

func FuzzParseTokens(f *testing.F) {
	f.Add("a,b=c,d==,e=f==")
	f.Add("=,==,a=b=c")
	f.Fuzz(func(t *testing.T, list string) {
		tok, err := ParseTokens(list)
		if err != nil {
			return
		}
		for _, g := range tok.global {
			if !validToken(g) || !tok.Allow("any", "Bearer "+g) {
				t.Fatalf("global token %q from %q not usable", g, list)
			}
		}
		for stream, ts := range tok.perStream {
			for _, s := range ts {
				if stream == "" || !tok.Allow(stream, "Bearer "+s) {
					t.Fatalf("token %q for %q from %q not usable", s, stream, list)
				}
			}
		}
	})
}

func FuzzBearerToken(f *testing.F) {
	f.Add("Bearer abc")
	f.Add("bearer  a==")
	f.Add("Bearer\ta")
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := BearerToken(header)
		if ok && (!validToken(tok) || strings.ContainsAny(tok, " \t\r\n")) {
			t.Fatalf("BearerToken(%q) = %q", header, tok)
		}
	})
}
