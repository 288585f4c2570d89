package sampler

// NAL unit types the sampler looks at.
const (
	h264NALUIDR = 5
	h264NALUSPS = 7
	h264NALUPPS = 8

	hevcNALUBLAWLP  = 16 // first IRAP type
	hevcNALURSVIRAP = 23 // last IRAP type
	hevcNALUVPS     = 32
	hevcNALUSPS     = 33
	hevcNALUPPS     = 34

	av1OBUSeqHeader = 1
	vp9FrameMarker  = 2
)

// H264IsKey reports whether an H.264 access unit holds an IDR picture.
func H264IsKey(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]&0x1f == h264NALUIDR {
			return true
		}
	}
	return false
}

func hevcType(n []byte) byte { return (n[0] >> 1) & 0x3f }

// HEVCIsKey reports whether an HEVC access unit holds an IRAP picture
// (IDR, CRA or BLA).
func HEVCIsKey(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 1 {
			if t := hevcType(n); t >= hevcNALUBLAWLP && t <= hevcNALURSVIRAP {
				return true
			}
		}
	}
	return false
}

// VP8IsKey reports whether a VP8 frame is a key frame: bit 0 of the frame
// tag is 0 for key frames (RFC 6386, 9.1).
func VP8IsKey(frame []byte) bool {
	return len(frame) >= 10 && frame[0]&1 == 0
}

// VP9IsKey reports whether a VP9 frame is a key frame, from its
// uncompressed header (VP9 bitstream specification, 6.2).
func VP9IsKey(frame []byte) bool {
	if len(frame) < 1 {
		return false
	}
	b := frame[0]
	if b>>6 != vp9FrameMarker {
		return false
	}
	// Bits from the most significant: frame_marker(2), profile_low_bit,
	// profile_high_bit, [reserved_zero in profile 3], show_existing_frame,
	// frame_type (0 = key frame).
	profile := (b>>5)&1 | ((b>>4)&1)<<1
	bit := 4
	if profile == 3 {
		bit++
	}
	if (b>>(7-bit))&1 == 1 {
		return false
	}
	return (b>>(7-bit-1))&1 == 0
}

// AV1IsKey reports whether an AV1 temporal unit (low-overhead OBU stream)
// starts a coded video sequence: encoders send a sequence header with every
// key frame, and a decoder can start there.
func AV1IsKey(tu []byte) bool {
	for len(tu) > 0 {
		header := tu[0]
		typ := (header >> 3) & 0x0f
		hasExt := header&0x04 != 0
		hasSize := header&0x02 != 0
		off := 1
		if hasExt {
			off++
		}
		if typ == av1OBUSeqHeader {
			return true
		}
		if !hasSize {
			return false
		}
		size, n := leb128(tu[min(off, len(tu)):])
		if n == 0 {
			return false
		}
		off += n
		if uint64(len(tu)-off) < size {
			return false
		}
		tu = tu[off+int(size):]
	}
	return false
}

// leb128 decodes an unsigned LEB128 number of at most 8 bytes; n is 0 when
// b does not hold one.
func leb128(b []byte) (v uint64, n int) {
	for i := 0; i < 8 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
