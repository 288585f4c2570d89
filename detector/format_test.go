package detector

import (
	"errors"
	"strings"
	"testing"
)

const (
	fmtPDQ1 = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
	fmtPDQ2 = "0000000000000000000000000000000000000000000000000000000000000001"
	fmtPH1  = "d1c4a5b6e7f80912"
)

func fmtRead(t *testing.T, in string, opts ListOptions) ([]Entry, ListStats, error) {
	t.Helper()
	var got []Entry
	st, err := ReadList(strings.NewReader(in), opts, func(e Entry) error {
		got = append(got, e)
		return nil
	})
	return got, st, err
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name, in string
		want     Format
		err      error
	}{
		{"hex", "# c\n\n" + fmtPDQ1 + ",x\n", FormatHex, nil},
		{"hex phash", fmtPH1 + "\n", FormatHex, nil},
		{"hex bom crlf", "\uFEFF" + fmtPH1 + "\r\n", FormatHex, nil},
		{"vpdq", "0,100," + fmtPDQ1 + ",0.000\n1,99," + fmtPDQ2 + ",1.001\n", FormatVPDQ, nil},
		{"csv", "id,hash,label\n1," + fmtPDQ1 + ",x\n", FormatCSV, nil},
		{"csv quoted", "\"Signal_Value\",\"signal_type\"\n", FormatCSV, nil},
		{"csv pdq column", "pdq,category\n", FormatCSV, nil},
		{"empty", "", FormatHex, nil},
		{"only comments", "# nothing\n\n", FormatHex, nil},
		{"text", "hello world\n", 0, ErrUnknownFormat},
		{"csv without hash column", "id,label\n1,x\n", 0, ErrUnknownFormat},
		{"binary", "abc\x00def", 0, ErrUnknownFormat},
		{"png", "\x89PNG\r\n\x1a\n....", 0, ErrMediaSource},
		{"jpeg", "\xff\xd8\xff\xe0....", 0, ErrMediaSource},
		{"mp4", "\x00\x00\x00\x20ftypisom", 0, ErrMediaSource},
		{"mkv", "\x1a\x45\xdf\xa3....", 0, ErrMediaSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectFormat([]byte(tt.in))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("DetectFormat = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{FormatAuto, FormatHex, FormatVPDQ, FormatCSV} {
		if got, err := ParseFormat(strings.ToUpper(f.String())); err != nil || got != f {
			t.Errorf("ParseFormat(%s) = %s, %v", f, got, err)
		}
	}
	if _, err := ParseFormat("xml"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("ParseFormat(xml) err = %v", err)
	}
}

func TestReadListHex(t *testing.T) {
	in := "# list\n" + fmtPDQ1 + ",cat, with comma\n\nnot-a-hash\n" + fmtPH1 + "\n" + fmtPDQ2 + "\n"
	got, st, err := fmtRead(t, in, ListOptions{Source: "lists/ncmec.txt", Label: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Format != FormatHex || st.Algorithm != PDQ || st.Entries != 2 || st.Skipped != 2 || st.Lines != 6 || st.List != "ncmec" {
		t.Fatalf("stats = %+v", st)
	}
	if got[0].Label != "cat, with comma" || got[0].ID != "2" || got[0].List != "ncmec" || got[0].Source != "lists/ncmec.txt" {
		t.Errorf("entry 0 = %+v", got[0])
	}
	if got[1].Label != "default" || got[1].ID != "6" {
		t.Errorf("entry 1 = %+v", got[1])
	}
	if len(st.Errors) != 2 || !strings.HasPrefix(st.Errors[0].Error(), "lists/ncmec.txt:4: ") ||
		!errors.Is(st.Errors[0], ErrBadHash) || !errors.Is(st.Errors[0], ErrMalformedLine) ||
		!errors.Is(st.Errors[1], ErrMixedAlgorithms) {
		t.Errorf("errors = %v", st.Errors)
	}
	// Strict: the first malformed line fails with file:line.
	_, _, err = fmtRead(t, in, ListOptions{Source: "lists/ncmec.txt", Strict: true})
	var lerr *LineError
	if !errors.As(err, &lerr) || lerr.Line != 4 || !errors.Is(err, ErrBadHash) {
		t.Fatalf("strict err = %v", err)
	}
}

func TestReadListLongLine(t *testing.T) {
	in := fmtPH1 + "\n" + strings.Repeat("a", MaxLineBytes+10) + "\n" + fmtPH1 + ",after\n"
	got, st, err := fmtRead(t, in, ListOptions{Format: FormatHex, Source: "x"})
	if err != nil || len(got) != 2 || st.Skipped != 1 || got[1].ID != "3" {
		t.Fatalf("got %d entries, stats %+v, err %v", len(got), st, err)
	}
}

func TestReadListAllow(t *testing.T) {
	got, _, err := fmtRead(t, fmtPH1+"\n", ListOptions{Source: "benign.txt", Allow: true, List: "benign"})
	if err != nil || len(got) != 1 || !got[0].Allow || got[0].List != "benign" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestReadListVPDQ(t *testing.T) {
	in := "0,100," + fmtPDQ1 + ",0.000\n" +
		"1,49," + fmtPDQ2 + ",0.033\n" + // low quality: dropped, not malformed
		"2,80," + fmtPDQ2 + ",0.067\n" +
		"3,80," + fmtPH1 + ",0.1\n" + // phash in vPDQ: malformed
		"4,80," + fmtPDQ2 + ",-1\n" +
		"5,101," + fmtPDQ2 + ",1\n" +
		"6,80," + fmtPDQ2 + "\n"
	got, st, err := fmtRead(t, in, ListOptions{Source: "videos/known-123.mp4.vpdq", List: "vids"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Format != FormatVPDQ || st.Entries != 2 || st.LowQuality != 1 || st.Skipped != 4 {
		t.Fatalf("stats = %+v", st)
	}
	if got[0].ID != "known-123.mp4" || got[0].Time != 0 || got[1].Time != 0.067 || got[1].List != "vids" {
		t.Errorf("entries = %+v", got)
	}
}

func TestReadListCSV(t *testing.T) {
	in := "\"Content_ID\",Signal_Type,signal_value,Category\n" +
		"\"a-1\",pdq," + fmtPDQ1 + ",\"adult, explicit\"\n" +
		"a-2,md5,5d41402abc4b2a76b9719d911017c592,x\n" +
		",pdq," + fmtPDQ2 + ",\n" +
		"a-4,pdq\n" +
		"a-5,pdq,nothex,y\n" +
		"\"a-6,pdq," + fmtPDQ2 + "\n"
	got, st, err := fmtRead(t, in, ListOptions{Source: "hma.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Format != FormatCSV || st.Entries != 2 || st.Other != 1 || st.Skipped != 3 {
		t.Fatalf("stats = %+v (errors %v)", st, st.Errors)
	}
	if got[0].ID != "a-1" || got[0].Label != "adult, explicit" || got[0].Hash.Algorithm != PDQ {
		t.Errorf("entry 0 = %+v", got[0])
	}
	if got[1].ID != "4" || got[1].Label != "" {
		t.Errorf("entry 1 (id from line number) = %+v", got[1])
	}
	// Forced CSV without a hash column fails even when not strict.
	if _, _, err := fmtRead(t, "id,label\n1,x\n", ListOptions{Format: FormatCSV, Source: "x.csv"}); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "x.csv:1") {
		t.Errorf("err = %v", err)
	}
}

func TestReadListEmptyAndUnknown(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "hash,label\n"} {
		got, st, err := fmtRead(t, in, ListOptions{Source: "e.txt"})
		if err != nil || len(got) != 0 || st.Entries != 0 {
			t.Errorf("%q: %d entries, %+v, %v", in, len(got), st, err)
		}
	}
	if _, _, err := fmtRead(t, "\x89PNG\r\n\x1a\nxxxx", ListOptions{Source: "cat.png"}); !errors.Is(err, ErrMediaSource) || !strings.Contains(err.Error(), "cat.png") {
		t.Errorf("png err = %v", err)
	}
	if _, _, err := fmtRead(t, "x", ListOptions{Format: Format(9)}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("bad format err = %v", err)
	}
}

func TestListSplitCSV(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		bad  bool
	}{
		{`a,b,c`, []string{"a", "b", "c"}, false},
		{`"a ""q""",,"c,d"`, []string{`a "q"`, "", "c,d"}, false},
		{`"a" ,b`, []string{"a", "b"}, false},
		{`"a`, nil, true},
		{`"a"x,b`, nil, true},
	}
	for _, tt := range tests {
		got, err := listSplitCSV(tt.in)
		if (err != nil) != tt.bad || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("listSplitCSV(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// fmtFuzzCheck holds what every reader promises whatever the input.
func fmtFuzzCheck(t *testing.T, in string, f Format, strict bool) {
	var got []Entry
	st, err := ReadList(strings.NewReader(in), ListOptions{Format: f, Strict: strict, Source: "f"}, func(e Entry) error {
		got = append(got, e)
		return nil
	})
	if len(got) != st.Entries {
		t.Fatalf("%d entries, stats say %d", len(got), st.Entries)
	}
	if st.Entries+st.Skipped+st.LowQuality+st.Other > st.Lines {
		t.Fatalf("stats add up to more than the lines: %+v", st)
	}
	for _, e := range got {
		if e.Hash.Algorithm != st.Algorithm {
			t.Fatalf("entry of %s in a %s list", e.Hash.Algorithm, st.Algorithm)
		}
	}
	if strict && st.Skipped != 0 {
		t.Fatalf("strict read skipped %d lines", st.Skipped)
	}
	if !strict && errors.Is(err, ErrMalformedLine) {
		t.Fatalf("lenient read failed on a line: %v", err)
	}
}

func FuzzReadListAuto(f *testing.F) {
	f.Add(fmtPDQ1+",x\n", false)
	f.Add("0,100,"+fmtPDQ1+",0.0\n", true)
	f.Add("hash,id\n"+fmtPH1+",1\n", false)
	f.Fuzz(func(t *testing.T, in string, strict bool) { fmtFuzzCheck(t, in, FormatAuto, strict) })
}

func FuzzReadListHex(f *testing.F) {
	f.Add("# c\n" + fmtPDQ1 + ",label\n" + fmtPH1 + "\n\r\nzz\n")
	f.Fuzz(func(t *testing.T, in string) {
		fmtFuzzCheck(t, in, FormatHex, false)
		fmtFuzzCheck(t, in, FormatHex, true)
	})
}

func FuzzReadListVPDQ(f *testing.F) {
	f.Add("0,100," + fmtPDQ1 + ",0.000\n1,10," + fmtPDQ2 + ",0.5\n2,x,y,z\n")
	f.Fuzz(func(t *testing.T, in string) {
		fmtFuzzCheck(t, in, FormatVPDQ, false)
		fmtFuzzCheck(t, in, FormatVPDQ, true)
	})
}

func FuzzReadListCSV(f *testing.F) {
	f.Add("id,signal_type,signal_value,label\n1,pdq," + fmtPDQ1 + ",\"a,b\"\n2,md5,abc,\n\"3\"\"\",pdq,x\n")
	f.Fuzz(func(t *testing.T, in string) {
		fmtFuzzCheck(t, in, FormatCSV, false)
		fmtFuzzCheck(t, in, FormatCSV, true)
	})
}

func FuzzDetectFormat(f *testing.F) {
	f.Add([]byte(fmtPH1))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte("pdq\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		format, err := DetectFormat(b)
		if err == nil && (format < FormatHex || format > FormatCSV) {
			t.Fatalf("DetectFormat gave %s without error", format)
		}
		if err == nil {
			// A recognised format reads without failing leniently.
			fmtFuzzCheck(t, string(b), format, false)
		}
	})
}
