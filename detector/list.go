package detector

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxLineBytes bounds one line of a hash list; longer lines are an error
// rather than an unbounded allocation.
const MaxLineBytes = 64 << 10

// ReadHexList reads a hash list of one hex hash per line, optionally followed
// by a comma and a label ("HEX[,label]"). Blank lines and lines starting with
// '#' are skipped. Each entry is named list, with its line number as id.
func ReadHexList(r io.Reader, list, source string) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	var out []Entry
	var algo Algorithm
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		if text == "" || text[0] == '#' {
			continue
		}
		hexPart, label, _ := strings.Cut(text, ",")
		h, err := ParseHash(hexPart)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", source, line, err)
		}
		if algo == 0 {
			algo = h.Algorithm
		} else if h.Algorithm != algo {
			return nil, fmt.Errorf("%s:%d: %w: %s after %s", source, line, ErrMixedAlgorithms, h.Algorithm, algo)
		}
		out = append(out, Entry{
			Hash:   h,
			List:   list,
			ID:     strconv.Itoa(line),
			Label:  strings.TrimSpace(label),
			Source: source,
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", source, line+1, err)
	}
	return out, nil
}
