package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigilstream/vigil/detector"
)

// loadIndex reads a hash list for the commands that match.
func loadIndex(path string) (*detector.Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer f.Close()
	entries, err := detector.ReadHexList(f, filepath.Base(path), path)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return detector.NewIndex(entries)
}
