package testenv

import (
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// KnownImage draws the benign stand-in for "known material": a smooth field
// of random colour blobs, distinct for each seed. Its structure sits in the
// low frequencies perceptual hashes look at, so it survives video encoding
// while random images stay far apart.
func KnownImage(seed uint64, w, h int) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const gw, gh = 9, 6
	var grid [gh + 1][gw + 1][3]float64
	for y := range grid {
		for x := range grid[y] {
			for c := range 3 {
				grid[y][x][c] = r.Float64() * 255
			}
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		fy := float64(y) / float64(h) * gh
		y0 := int(fy)
		ty := fy - float64(y0)
		for x := range w {
			fx := float64(x) / float64(w) * gw
			x0 := int(fx)
			tx := fx - float64(x0)
			var px [3]uint8
			for c := range 3 {
				top := grid[y0][x0][c]*(1-tx) + grid[y0][x0+1][c]*tx
				bot := grid[y0+1][x0][c]*(1-tx) + grid[y0+1][x0+1][c]*tx
				px[c] = uint8(top*(1-ty) + bot*ty)
			}
			img.SetRGBA(x, y, color.RGBA{px[0], px[1], px[2], 255})
		}
	}
	return img
}

// WritePNG writes img into the test's temporary directory as name and
// returns the path.
func WritePNG(tb testing.TB, name string, img image.Image) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}
