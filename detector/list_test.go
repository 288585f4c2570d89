package detector

import (
	"errors"
	"strings"
	"testing"
)

func TestReadHexList(t *testing.T) {
	in := "# demo list\n\nd1c4a5b6e7f80912,cat photo\n  00000000000000ff  \n"
	got, err := ReadHexList(strings.NewReader(in), "demo", "demo.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2", len(got))
	}
	if got[0].Label != "cat photo" || got[0].ID != "3" || got[0].List != "demo" || got[0].Hash.Algorithm != PHash {
		t.Errorf("entry 0 = %+v", got[0])
	}
	if got[1].Hash.Code[0] != 0xff || got[1].Label != "" {
		t.Errorf("entry 1 = %+v", got[1])
	}
}

func TestReadHexListErrors(t *testing.T) {
	tests := []struct {
		name, in, wantLine string
		want               error
	}{
		{"bad hex", "d1c4a5b6e7f80912\nnothex\n", "x.txt:2", ErrBadHash},
		{"mixed", "d1c4a5b6e7f80912\n" + strings.Repeat("a", 64) + "\n", "x.txt:2", ErrMixedAlgorithms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadHexList(strings.NewReader(tt.in), "x", "x.txt")
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantLine) {
				t.Fatalf("err = %v, want %v at %s", err, tt.want, tt.wantLine)
			}
		})
	}
	long := strings.Repeat("a", MaxLineBytes+10)
	if _, err := ReadHexList(strings.NewReader(long), "x", "x.txt"); err == nil {
		t.Fatal("over-long line accepted")
	}
}

func FuzzReadHexList(f *testing.F) {
	f.Add("d1c4a5b6e7f80912,label\n")
	f.Add("# c\n" + strings.Repeat("f", 64) + "\n")
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := ReadHexList(strings.NewReader(in), "f", "f")
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Hash.Algorithm.Bits() == 0 {
				t.Fatalf("entry without algorithm: %+v", e)
			}
		}
	})
}
