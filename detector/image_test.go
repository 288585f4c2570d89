package detector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// testPicture is a picture of a few large shapes with sharp edges: its
// PDQ quality is high, and lossy and palette encodings change its hash
// only a little.
func testPicture(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			c := color.NRGBA{40, 60, 90, 255}
			if math.Hypot(fx-0.3, fy-0.4) < 0.2 {
				c = color.NRGBA{230, 200, 40, 255}
			}
			if fx > 0.55 && fx < 0.9 && fy > 0.2 && fy < 0.7 {
				c = color.NRGBA{200, 40, 50, 255}
			}
			if fy > 0.8 && int(fx*10)%2 == 0 {
				c = color.NRGBA{250, 250, 250, 255}
			}
			m.Set(x, y, c)
		}
	}
	return m
}

// encoded returns the test picture in each format with an encoder here.
func encoded(t testing.TB, w, h int) map[string][]byte {
	t.Helper()
	m := testPicture(w, h)
	out := map[string][]byte{}
	for name, enc := range map[string]func(io.Writer, image.Image) error{
		"png":  png.Encode,
		"jpeg": func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, &jpeg.Options{Quality: 90}) },
		"gif": func(w io.Writer, m image.Image) error {
			// Nearest palette colour, no dithering noise.
			return gif.Encode(w, m, &gif.Options{NumColors: 256, Drawer: draw.Src})
		},
		"bmp":  bmp.Encode,
		"tiff": func(w io.Writer, m image.Image) error { return tiff.Encode(w, m, nil) },
	} {
		var buf bytes.Buffer
		if err := enc(&buf, m); err != nil {
			t.Fatalf("encode %s: %v", name, err)
		}
		out[name] = buf.Bytes()
	}
	return out
}

func TestDecodeImageFormats(t *testing.T) {
	h := NewPDQHasher()
	want, q, err := h.HashImage(testPicture(120, 80))
	if err != nil || q < 80 {
		t.Fatalf("test picture: quality %d, %v", q, err)
	}
	for name, data := range encoded(t, 120, 80) {
		img, format, err := DecodeImage(bytes.NewReader(data), 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if format != name {
			t.Errorf("%s decoded as %q", name, format)
		}
		if b := img.Bounds(); b.Dx() != 120 || b.Dy() != 80 {
			t.Errorf("%s: bounds %v", name, b)
		}
		got, _, err := h.HashImage(img)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Lossy and palette formats change the pixels a little.
		d := got.Code.Distance(want.Code)
		if d > 16 {
			t.Errorf("%s: hash %d bits from the original picture's", name, d)
		}
		t.Logf("%-4s %-15T distance %d", name, img, d)
	}
}

// pngHeader is a PNG signature and an IHDR chunk claiming w x h pixels,
// and nothing else: decoding it would fail, so an error other than a
// decode error shows that the header check came first.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// gifHeader is a GIF header with a logical screen of w x h.
func gifHeader(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	return append(b, 0, 0, 0)
}

// jpegHeader is a JPEG start of image, a JFIF marker (after which
// image/jpeg stops reading at the frame header) and a baseline frame header
// of w x h, three components.
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, 0xff, 0xc0, 0x00, 0x11, 8)
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	return append(b, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
}

// bmpHeader is a BMP file and info header of w x h, 24 bits.
func bmpHeader(w, h int32) []byte {
	b := []byte("BM")
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 54)
	b = binary.LittleEndian.AppendUint32(b, 40)
	b = binary.LittleEndian.AppendUint32(b, uint32(w))
	b = binary.LittleEndian.AppendUint32(b, uint32(h))
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 24)
	return append(b, make([]byte, 24)...)
}

func TestDecodeImageBadInput(t *testing.T) {
	files := encoded(t, 64, 48)
	pngData := files["png"]
	corrupt := bytes.Clone(pngData)
	for i := len(corrupt) / 2; i < len(corrupt)/2+16; i++ {
		corrupt[i] ^= 0x5a
	}
	tests := []struct {
		name      string
		data      []byte
		maxPixels int
		want      error
		mention   string
	}{
		{"empty", nil, 0, ErrUnsupportedFormat, "unsupported"},
		{"text", []byte("hello, this is not a picture"), 0, ErrUnsupportedFormat, "unsupported"},
		{"ico", []byte{0, 0, 1, 0, 1, 0, 16, 16, 0, 0}, 0, ErrUnsupportedFormat, "unsupported"},
		{"png truncated", pngData[:len(pngData)/2], 0, ErrBadImage, "png"},
		{"png header only", pngData[:33], 0, ErrBadImage, "png"},
		{"png corrupt", corrupt, 0, ErrBadImage, "png"},
		{"jpeg truncated", files["jpeg"][:len(files["jpeg"])/2], 0, ErrBadImage, "jpeg"},
		{"jpeg signature only", []byte{0xff, 0xd8, 0xff}, 0, ErrBadImage, "jpeg"},
		{"gif truncated", files["gif"][:len(files["gif"])-20], 0, ErrBadImage, "gif"},
		{"bmp truncated", files["bmp"][:100], 0, ErrBadImage, "bmp"},
		{"tiff truncated", files["tiff"][:100], 0, ErrBadImage, "tiff"},
		{"gif 0x0", gifHeader(0, 0), 0, ErrImageTooSmall, "0x0"},
		{"png 0x0", pngHeader(0, 0), 0, ErrBadImage, "png"},
		{"png 100000x100000", pngHeader(100000, 100000), 0, ErrImageTooLarge, "100000x100000"},
		{"gif 65535x65535", gifHeader(65535, 65535), 0, ErrImageTooLarge, "65535x65535"},
		{"jpeg 65535x65535", jpegHeader(65535, 65535), 0, ErrImageTooLarge, "65535x65535"},
		{"bmp 100000x100000", bmpHeader(100000, 100000), 0, ErrImageTooLarge, "100000x100000"},
		{"under a custom limit", pngData, 64*48 - 1, ErrImageTooLarge, "limit 3071"},
	}
	for _, tt := range tests {
		img, _, err := DecodeImage(bytes.NewReader(tt.data), tt.maxPixels)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			continue
		}
		if img != nil {
			t.Errorf("%s: an image along with the error", tt.name)
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%s: %q does not mention %q", tt.name, err, tt.mention)
		}
		t.Logf("%-22s %v", tt.name, err)
	}
	if _, _, err := DecodeImage(bytes.NewReader(pngData), 64*48); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
	if _, _, err := DecodeImage(bytes.NewReader(files["png"][:len(pngData)-10]), 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated png: %v does not wrap io.ErrUnexpectedEOF", err)
	}
}

func TestDecodeImageTiny(t *testing.T) {
	var buf bytes.Buffer
	png.Encode(&buf, testPicture(1, 1))
	img, _, err := DecodeImage(&buf, 0)
	if err != nil {
		t.Fatalf("1x1 png: %v", err)
	}
	hash, q, err := NewPDQHasher().HashImage(img)
	if !errors.Is(err, ErrImageTooSmall) || hash != (Hash{Algorithm: PDQ}) || q != 0 {
		t.Fatalf("1x1: %s %d %v, want zero hash, quality 0, ErrImageTooSmall", hash, q, err)
	}
	if !strings.Contains(err.Error(), "1x1") {
		t.Errorf("%q does not give the size", err)
	}
}

func TestDecodeImageFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jpg")
	if err := os.WriteFile(bad, []byte{0xff, 0xd8, 0xff, 0xe0}, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := DecodeImageFile(bad, 0)
	if !errors.Is(err, ErrBadImage) || !strings.HasPrefix(err.Error(), bad+": ") {
		t.Errorf("bad file: %v", err)
	}
	_, _, err = DecodeImageFile(filepath.Join(dir, "missing.png"), 0)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: %v", err)
	}
	good := filepath.Join(dir, "good.gif")
	if err := os.WriteFile(good, encoded(t, 20, 10)["gif"], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, format, err := DecodeImageFile(good, 0); err != nil || format != "gif" {
		t.Errorf("good gif: %q, %v", format, err)
	}
}

// TestDecodeAnchorModes decodes the upstream test photo saved in many
// colour modes and file formats (PNG, JPEG incl. CMYK, WebP lossy and
// lossless, with and without alpha) and checks each hashes close to the
// original JPEG. No reference hashes exist for these; the distances are
// logged.
func TestDecodeAnchorModes(t *testing.T) {
	dir := pdqData(t, "misc-images/modes")
	h := NewPDQHasher()
	orig, _, err := h.HashImage(decodeAnchor(t, "misc-images/modes/original.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ds distances
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".md" {
			continue
		}
		rel := "misc-images/modes/" + e.Name()
		img, format, err := DecodeImageFile(pdqData(t, rel), 0)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		got, q, err := h.HashImage(img)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		d := got.Code.Distance(orig.Code)
		ds = append(ds, d)
		t.Logf("%-32s %-5s %-16T distance %3d quality %d", rel, format, img, d, q)
		if d > 31 {
			t.Errorf("%s: %d bits from the original, past the match threshold", rel, d)
		}
	}
	t.Logf("colour modes vs original: %s", ds.summary())
}

// FuzzDecodeImage feeds arbitrary bytes to DecodeImage (with a small pixel
// limit so that the fuzzer spends its time in the parsers) and hashes what
// decodes. Every failure must be one of the classified errors, and nothing
// may panic.
func FuzzDecodeImage(f *testing.F) {
	for _, data := range encoded(f, 16, 12) {
		f.Add(data)
	}
	f.Add(gifHeader(0, 0))
	f.Add(pngHeader(100000, 100000))
	f.Add(jpegHeader(65535, 65535))
	f.Add(bmpHeader(7, -5)) // a top-down BMP
	h := NewPDQHasher()
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		img, _, err := DecodeImage(bytes.NewReader(data), limit)
		if err != nil {
			if img != nil {
				t.Fatalf("image along with error %v", err)
			}
			for _, known := range []error{ErrUnsupportedFormat, ErrBadImage, ErrImageTooLarge, ErrImageTooSmall} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("unclassified error: %v", err)
		}
		b := img.Bounds()
		if b.Empty() || b.Dx() > limit/b.Dy() {
			t.Fatalf("decoded %v past the checks", b)
		}
		_, q, err := h.HashImage(img)
		if err != nil && !errors.Is(err, ErrImageTooSmall) {
			t.Fatalf("hash: %v", err)
		}
		if q < 0 || q > 100 {
			t.Fatalf("quality %d", q)
		}
	})
}
