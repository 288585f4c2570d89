package detector

import (
	"io"
)

// MaxLineBytes bounds one line of a hash list; longer lines are malformed
// rather than an unbounded allocation.
const MaxLineBytes = 64 << 10

// ReadHexList reads a hash list of one hex hash per line, optionally followed
// by a comma and a label ("HEX[,label]"). Blank lines and lines starting with
// '#' are skipped. Each entry is named list, with its line number as id. The
// first malformed line fails the read; ReadList reads leniently and the
// other formats.
func ReadHexList(r io.Reader, list, source string) ([]Entry, error) {
	var out []Entry
	_, err := ReadList(r, ListOptions{Format: FormatHex, Strict: true, List: list, Source: source}, func(e Entry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
