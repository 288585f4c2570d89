package detector

import (
	"errors"
	"strings"
	"testing"
)

func TestParseHashRoundTrip(t *testing.T) {
	tests := []struct {
		in   string
		algo Algorithm
	}{
		{"f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22", PDQ},
		{"0000000000000000000000000000000000000000000000000000000000000001", PDQ},
		{"d1c4a5b6e7f80912", PHash},
	}
	for _, tt := range tests {
		h, err := ParseHash(tt.in)
		if err != nil {
			t.Fatalf("ParseHash(%q): %v", tt.in, err)
		}
		if h.Algorithm != tt.algo {
			t.Errorf("ParseHash(%q) algorithm = %s, want %s", tt.in, h.Algorithm, tt.algo)
		}
		if got := h.String(); got != tt.in {
			t.Errorf("round trip %q -> %q", tt.in, got)
		}
		up, err := ParseHash(strings.ToUpper(tt.in))
		if err != nil || up != h {
			t.Errorf("upper-case %q parsed as %v, %v", tt.in, up, err)
		}
	}
}

func TestParseHashErrors(t *testing.T) {
	for _, in := range []string{"", "abc", "zz00000000000000", strings.Repeat("0", 63), strings.Repeat("0", 65)} {
		if _, err := ParseHash(in); !errors.Is(err, ErrBadHash) {
			t.Errorf("ParseHash(%q) err = %v, want ErrBadHash", in, err)
		}
	}
}

func TestDistance(t *testing.T) {
	a, _ := ParseHash("ffffffffffffffff0000000000000000ffffffffffffffff0000000000000000")
	b, _ := ParseHash("fffffffffffffffe0000000000000001ffffffffffffffff0000000000000000")
	d, err := a.Distance(b)
	if err != nil || d != 2 {
		t.Fatalf("distance = %d, %v; want 2", d, err)
	}
	p, _ := ParseHash("ffffffffffffffff")
	if _, err := a.Distance(p); !errors.Is(err, ErrMixedAlgorithms) {
		t.Fatalf("pdq vs phash err = %v, want ErrMixedAlgorithms", err)
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add("d1c4a5b6e7f80912")
	f.Add("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
	f.Add("xyz")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			return
		}
		again, err := ParseHash(h.String())
		if err != nil || again != h {
			t.Fatalf("%q -> %v -> %v, %v", s, h, again, err)
		}
	})
}
