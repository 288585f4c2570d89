package detector

import (
	"fmt"
	"image"

	"github.com/corona10/goimagehash"
)

// PHasher computes goimagehash's 64-bit DCT perceptual hash.
type PHasher struct{}

// Algorithm returns PHash.
func (PHasher) Algorithm() Algorithm { return PHash }

// HashPlane hashes a luma plane. pHash has no quality measure of its own,
// so the quality is always 100.
func (PHasher) HashPlane(p Plane) (Hash, int, error) {
	if err := p.Validate(); err != nil {
		return Hash{}, 0, err
	}
	img := &image.Gray{Pix: p.Pix, Stride: p.Stride, Rect: image.Rect(0, 0, p.Width, p.Height)}
	return PHashImage(img)
}

// PHashImage hashes any image with goimagehash's pHash.
func PHashImage(img image.Image) (Hash, int, error) {
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return Hash{}, 0, fmt.Errorf("%w: %dx%d", ErrImageTooSmall, b.Dx(), b.Dy())
	}
	ih, err := goimagehash.PerceptionHash(img)
	if err != nil {
		return Hash{}, 0, fmt.Errorf("detector: phash: %w", err)
	}
	return Hash{Algorithm: PHash, Code: Code{ih.GetHash()}}, 100, nil
}
