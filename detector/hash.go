package detector

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"strings"
)

// Algorithm names a perceptual hash algorithm.
type Algorithm uint8

// The algorithms this package computes and matches.
const (
	// PDQ is Meta's 256-bit perceptual hash, the format hash-sharing
	// programmes distribute.
	PDQ Algorithm = iota + 1
	// PHash is the 64-bit DCT perceptual hash of goimagehash.
	PHash
)

// String returns the algorithm's name as used in lists, signals and flags.
func (a Algorithm) String() string {
	switch a {
	case PDQ:
		return "pdq"
	case PHash:
		return "phash"
	default:
		return fmt.Sprintf("algorithm(%d)", uint8(a))
	}
}

// Bits is the length of the algorithm's code in bits.
func (a Algorithm) Bits() int {
	switch a {
	case PDQ:
		return 256
	case PHash:
		return 64
	default:
		return 0
	}
}

// HexLen is the length of the algorithm's code in hex digits.
func (a Algorithm) HexLen() int { return a.Bits() / 4 }

// DefaultMaxDistance is the Hamming distance at or below which two codes of
// the algorithm are taken to show the same picture: 31 of 256 for PDQ (Meta's
// recommendation), 10 of 64 for pHash.
func (a Algorithm) DefaultMaxDistance() int {
	switch a {
	case PDQ:
		return 31
	case PHash:
		return 10
	default:
		return 0
	}
}

// ParseAlgorithm returns the algorithm named s ("pdq" or "phash").
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "pdq":
		return PDQ, nil
	case "phash":
		return PHash, nil
	default:
		return 0, fmt.Errorf("%w: %q", ErrUnknownAlgorithm, s)
	}
}

// Code holds a perceptual hash of up to 256 bits, most significant word
// first, in the order of its hex form. A 64-bit code uses Code[0] only and
// leaves the other words zero, so Distance works for both lengths.
type Code [4]uint64

// Distance is the Hamming distance between two codes.
func (c Code) Distance(o Code) int {
	return bits.OnesCount64(c[0]^o[0]) + bits.OnesCount64(c[1]^o[1]) +
		bits.OnesCount64(c[2]^o[2]) + bits.OnesCount64(c[3]^o[3])
}

// Hash is a code together with the algorithm that produced it.
type Hash struct {
	Algorithm Algorithm
	Code      Code
}

// Distance is the Hamming distance between h and o; both must be of the same
// algorithm.
func (h Hash) Distance(o Hash) (int, error) {
	if h.Algorithm != o.Algorithm {
		return 0, fmt.Errorf("%w: %s and %s", ErrMixedAlgorithms, h.Algorithm, o.Algorithm)
	}
	return h.Code.Distance(o.Code), nil
}

// String returns the hash in lower-case hex: 64 digits for PDQ, 16 for pHash.
func (h Hash) String() string {
	n := h.Algorithm.Bits() / 64
	if n == 0 {
		return ""
	}
	var buf [32]byte
	for i := range n {
		w := h.Code[i]
		for j := range 8 {
			buf[i*8+j] = byte(w >> (56 - 8*j))
		}
	}
	return hex.EncodeToString(buf[:n*8])
}

// ParseHash parses a hex hash; its length decides the algorithm (64 digits
// PDQ, 16 digits pHash).
func ParseHash(s string) (Hash, error) {
	s = strings.TrimSpace(s)
	var a Algorithm
	switch len(s) {
	case PDQ.HexLen():
		a = PDQ
	case PHash.HexLen():
		a = PHash
	default:
		return Hash{}, fmt.Errorf("%w: %d hex digits, want 64 (pdq) or 16 (phash)", ErrBadHash, len(s))
	}
	return ParseHashAs(a, s)
}

// ParseHashAs parses a hex hash of algorithm a.
func ParseHashAs(a Algorithm, s string) (Hash, error) {
	s = strings.TrimSpace(s)
	if len(s) != a.HexLen() || a.HexLen() == 0 {
		return Hash{}, fmt.Errorf("%w: %d hex digits, want %d for %s", ErrBadHash, len(s), a.HexLen(), a)
	}
	var buf [32]byte
	if _, err := hex.Decode(buf[:len(s)/2], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("%w: %v", ErrBadHash, err)
	}
	h := Hash{Algorithm: a}
	for i := range len(s) / 16 {
		var w uint64
		for j := range 8 {
			w = w<<8 | uint64(buf[i*8+j])
		}
		h.Code[i] = w
	}
	return h, nil
}
