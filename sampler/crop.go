package sampler

import "github.com/vigilstream/vigil/detector"

// Border detection. A restreamer that letterboxes, pillarboxes or frames
// known material in a flat colour changes its hash; cropping the border
// restores it. Rows and columns at the edges count as border while they are
// flat (small spread) and of the same level as the outermost line.
const (
	borderSpread  = 24   // max-min luma within a border line
	borderLevel   = 16   // a border line's mean may differ this much from the outermost one
	borderMinFrac = 0.02 // smaller borders are not worth a crop
	contentMinPct = 40   // a "content" area below this share of a side is a flat picture, not a border
	borderStep    = 4    // sample every 4th pixel along a line
)

// rect is a crop in plane coordinates.
type rect struct{ x, y, w, h int }

// cropper finds a stream's content area and keeps it stable: a new crop is
// adopted only after two consecutive samples agree on it, so a dark scene
// does not make the crop flicker.
type cropper struct {
	committed rect
	have      bool
	candidate rect
	seen      int
}

// content returns the part of p to hash.
func (c *cropper) content(p detector.Plane) detector.Plane {
	r := detectBorders(p)
	switch {
	case !c.have || c.committed.w == 0:
		c.committed, c.have = r, true
	case near(r, c.committed):
		c.seen = 0
	case c.seen > 0 && near(r, c.candidate):
		c.committed, c.seen = r, 0
	default:
		c.candidate, c.seen = r, 1
	}
	k := c.committed
	if k.w <= 0 || k.h <= 0 || k.x+k.w > p.Width || k.y+k.h > p.Height {
		return p
	}
	return p.Sub(k.x, k.y, k.w, k.h)
}

func near(a, b rect) bool {
	d := func(x, y int) bool { return x-y <= 2 && y-x <= 2 }
	return d(a.x, b.x) && d(a.y, b.y) && d(a.w, b.w) && d(a.h, b.h)
}

// detectBorders returns the content rectangle of p: all of p when it has
// no border worth cropping.
func detectBorders(p detector.Plane) rect {
	full := rect{0, 0, p.Width, p.Height}
	if p.Width < 16 || p.Height < 16 {
		return full
	}
	row := func(y int) (lo, hi, mean int) { return lineStats(p.Pix[y*p.Stride:], 1, p.Width) }
	col := func(x int) (lo, hi, mean int) { return lineStats(p.Pix[x:], p.Stride, p.Height) }
	top := borderDepth(row, 0, 1, p.Height)
	bottom := borderDepth(row, p.Height-1, -1, p.Height)
	left := borderDepth(col, 0, 1, p.Width)
	right := borderDepth(col, p.Width-1, -1, p.Width)

	minH, minW := int(borderMinFrac*float64(p.Height)), int(borderMinFrac*float64(p.Width))
	if top < minH {
		top = 0
	}
	if bottom < minH {
		bottom = 0
	}
	if left < minW {
		left = 0
	}
	if right < minW {
		right = 0
	}
	w, h := p.Width-left-right, p.Height-top-bottom
	if w*100 < p.Width*contentMinPct || h*100 < p.Height*contentMinPct {
		return full
	}
	return rect{left, top, w, h}
}

// borderDepth counts flat lines from the edge at start, moving by dir, all
// at the level of the outermost line.
func borderDepth(line func(int) (int, int, int), start, dir, n int) int {
	lo, hi, level := line(start)
	if hi-lo > borderSpread {
		return 0
	}
	depth := 0
	for i := start; i >= 0 && i < n && depth < n/2; i += dir {
		lo, hi, mean := line(i)
		if hi-lo > borderSpread || mean-level > borderLevel || level-mean > borderLevel {
			break
		}
		depth++
	}
	return depth
}

// lineStats returns the minimum, maximum and mean of every borderStep-th
// sample of a line of n samples, stride apart.
func lineStats(b []byte, stride, n int) (lo, hi, mean int) {
	lo, hi = 255, 0
	sum, cnt := 0, 0
	for i := 0; i < n; i += borderStep {
		v := int(b[i*stride])
		lo, hi = min(lo, v), max(hi, v)
		sum += v
		cnt++
	}
	return lo, hi, sum / cnt
}
