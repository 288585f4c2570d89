package sampler

import (
	"bytes"
	"testing"
)

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", []byte{1, 2, 3}, nil},
		{"four-byte codes", []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3}, [][]byte{{0x67, 1, 2}, {0x68, 3}}},
		{"three-byte codes", []byte{0, 0, 1, 0x65, 9, 0, 0, 1, 0x41}, [][]byte{{0x65, 9}, {0x41}}},
		{"leading junk and trailing zeros", []byte{7, 7, 0, 0, 1, 0x09, 0xf0, 0, 0}, [][]byte{{0x09, 0xf0}}},
		{"empty unit skipped", []byte{0, 0, 1, 0, 0, 1, 0x41}, [][]byte{{0x41}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitAnnexB(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d units %x, want %x", len(got), got, tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("unit %d = %x, want %x", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzSplitAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68})
	f.Add([]byte{0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		for _, n := range SplitAnnexB(b) {
			if len(n) == 0 || n[len(n)-1] == 0 {
				t.Fatalf("unit %x is empty or ends in zero", n)
			}
			if bytes.Contains(n, []byte{0, 0, 1}) {
				t.Fatalf("unit %x contains a start code", n)
			}
			total += len(n)
		}
		if total > len(b) {
			t.Fatalf("units hold %d bytes of %d", total, len(b))
		}
	})
}
