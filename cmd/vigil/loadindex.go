package main

import (
	"fmt"

	"github.com/vigilstream/vigil/detector"
)

// loadIndex reads a compiled index or a hash list for the commands that
// match.
func loadIndex(path string) (*detector.Index, error) {
	idx, err := detector.LoadIndex(path)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return idx, nil
}
