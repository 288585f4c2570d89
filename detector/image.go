package detector

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"strings"

	// The still-image formats the node reads. Registering them is the only
	// effect of these imports.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// DefaultMaxPixels is the pixel limit DecodeImage applies when given none:
// 64 Mi pixels, above any camera photo in common use, and a decoded RGBA
// image of 256 MiB at most.
const DefaultMaxPixels = 64 << 20

// DecodeImage decodes a PNG, JPEG, GIF (first frame), BMP, TIFF or WebP
// image from r and returns it with its format name ("png", "jpeg", ...).
//
// The header is read first and an image claiming more than maxPixels
// pixels (DefaultMaxPixels when maxPixels <= 0) is refused with
// ErrImageTooLarge before anything is decoded, so a small file cannot make
// the decoder allocate gigabytes; an image claiming no pixels is refused
// with ErrImageTooSmall. An unknown format gives ErrUnsupportedFormat, a
// truncated or corrupt file ErrBadImage (wrapping the decoder's error, e.g.
// io.ErrUnexpectedEOF).
//
// The pixel limit bounds what decoding allocates, not how much of r is
// read: a TIFF decoder reads its whole input into memory, so wrap r in an
// io.LimitReader when the input's size is not trusted.
func DecodeImage(r io.Reader, maxPixels int) (img image.Image, format string, err error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	// The decoders are fed hostile input; should one of them panic, that is
	// a bad image, not a reason to take the node down.
	defer func() {
		if p := recover(); p != nil {
			img = nil
			err = fmt.Errorf("%w: %s decoder failed: %v", ErrBadImage, formatName(format), p)
		}
	}()

	// DecodeConfig reads only the header, but through a buffer that may
	// read ahead; keep every byte it consumes so that Decode can start over.
	var head bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(r, &head))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, "", fmt.Errorf("%w (known: png, jpeg, gif, bmp, tiff, webp)", ErrUnsupportedFormat)
		}
		return nil, format, fmt.Errorf("%w: %s header: %w", ErrBadImage, formatName(format), trimFormat(err, format))
	}
	if err := checkPixels(cfg.Width, cfg.Height, maxPixels, format); err != nil {
		return nil, format, err
	}
	img, _, err = image.Decode(io.MultiReader(&head, r))
	if err != nil {
		return nil, format, fmt.Errorf("%w: %s: %w", ErrBadImage, format, trimFormat(err, format))
	}
	// A decoder sizes its image from the header it just checked, but do
	// not rely on it.
	b := img.Bounds()
	if err := checkPixels(b.Dx(), b.Dy(), maxPixels, format); err != nil {
		return nil, format, err
	}
	return img, format, nil
}

// DecodeImageFile is DecodeImage on the named file; its errors start with
// the file's name.
func DecodeImageFile(name string, maxPixels int) (image.Image, string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, "", err // *PathError already names the file
	}
	defer f.Close()
	img, format, err := DecodeImage(f, maxPixels)
	if err != nil {
		return nil, format, fmt.Errorf("%s: %w", name, err)
	}
	return img, format, nil
}

func checkPixels(w, h, maxPixels int, format string) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: %s header claims %dx%d pixels", ErrImageTooSmall, format, w, h)
	}
	// w > maxPixels/h is w*h > maxPixels without the overflow.
	if w > maxPixels/h {
		return fmt.Errorf("%w: %s header claims %dx%d pixels, limit %d", ErrImageTooLarge, format, w, h, maxPixels)
	}
	return nil
}

// trimFormat drops the "png: " a decoder starts its messages with, which
// the wrapping message already gives, and keeps the error chain.
func trimFormat(err error, format string) error {
	msg := err.Error()
	if format == "" || !strings.HasPrefix(msg, format+": ") {
		return err
	}
	return &trimmedError{msg: strings.TrimPrefix(msg, format+": "), err: err}
}

type trimmedError struct {
	msg string
	err error
}

func (e *trimmedError) Error() string { return e.msg }
func (e *trimmedError) Unwrap() error { return e.err }

func formatName(f string) string {
	if f == "" {
		return "image"
	}
	return f
}
