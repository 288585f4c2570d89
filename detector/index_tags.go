package detector

import "encoding/binary"

// idxTags is a table's per-entry tag column, each tag in the fewest bytes
// (1, 2 or 4) that hold the index's tag numbers, little-endian. Real lists
// have a few dozen (list, source, label) combinations, so 10M entries take
// 10 MB instead of 40: memory the posting cells of a 10M PDQ index can use.
type idxTags struct {
	width int
	b     []byte
}

// idxTagWidth is the bytes a tag takes in an index of ntags tags.
func idxTagWidth(ntags int) int {
	switch {
	case ntags <= 1<<8:
		return 1
	case ntags <= 1<<16:
		return 2
	}
	return 4
}

// idxNarrowTags packs tags at the width ntags needs.
func idxNarrowTags(tags []uint32, ntags int) idxTags {
	c := idxTags{width: idxTagWidth(ntags)}
	c.b = make([]byte, c.width*len(tags))
	for i, tg := range tags {
		switch c.width {
		case 1:
			c.b[i] = byte(tg)
		case 2:
			binary.LittleEndian.PutUint16(c.b[2*i:], uint16(tg))
		default:
			binary.LittleEndian.PutUint32(c.b[4*i:], tg)
		}
	}
	return c
}

// at is entry i's tag.
func (c idxTags) at(i uint32) uint32 {
	switch c.width {
	case 1:
		return uint32(c.b[i])
	case 2:
		return uint32(binary.LittleEndian.Uint16(c.b[2*i:]))
	}
	return binary.LittleEndian.Uint32(c.b[4*i:])
}

// permute returns the column reordered: entry new is entry perm[new].
func (c idxTags) permute(perm []uint32) idxTags {
	out := idxTags{width: c.width, b: make([]byte, len(c.b))}
	w := c.width
	for nw, old := range perm {
		copy(out.b[nw*w:(nw+1)*w], c.b[int(old)*w:int(old+1)*w])
	}
	return out
}
