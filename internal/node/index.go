package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilstream/vigil/detector"
)

// loadedIndex is an index with where and when it came from.
type loadedIndex struct {
	Index    *detector.Index
	Source   string
	Version  string // first 12 hex digits of the file's SHA-256
	LoadedAt time.Time
	modTime  time.Time
	size     int64
}

// indexInfo describes the index in use.
type indexInfo struct {
	Entries    int       `json:"entries"`
	Algorithms []string  `json:"algorithms"`
	Source     string    `json:"source"`
	Version    string    `json:"version"`
	LoadedAt   time.Time `json:"loaded_at"`
}

func (n *Node) indexInfo() indexInfo {
	li := n.index.Load()
	info := indexInfo{Entries: li.Index.Len(), Source: li.Source, Version: li.Version, LoadedAt: li.LoadedAt, Algorithms: []string{}}
	for _, a := range li.Index.Algorithms() {
		info.Algorithms = append(info.Algorithms, a.String())
	}
	return info
}

// readIndex loads path ("" for an empty index). It reads the file once, so
// the version is the checksum of exactly what was loaded.
func readIndex(path string) (*loadedIndex, error) {
	if path == "" {
		idx, _ := detector.NewIndex(nil)
		return &loadedIndex{Index: idx, LoadedAt: time.Now()}, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("node: index: %w", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("node: index: %w", err)
	}
	entries, err := detector.ReadHexList(bytes.NewReader(raw), filepath.Base(path), path)
	if err != nil {
		return nil, fmt.Errorf("node: index: %w", err)
	}
	idx, err := detector.NewIndex(entries)
	if err != nil {
		return nil, fmt.Errorf("node: index: %w", err)
	}
	sum := sha256.Sum256(raw)
	return &loadedIndex{Index: idx, Source: path, Version: hex.EncodeToString(sum[:6]), LoadedAt: time.Now(),
		modTime: st.ModTime(), size: st.Size()}, nil
}

// errNoIndexFile refuses a reload when the node was started without --index.
var errNoIndexFile = errors.New("node: no index file configured (--index)")

// ReloadIndex loads the index file again and swaps it in atomically. A
// file that does not load (corrupt, truncated, missing) is refused with the
// reason and the node keeps the index it has.
func (n *Node) ReloadIndex() (indexInfo, error) {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	if n.cfg.Index == "" {
		return n.indexInfo(), errNoIndexFile
	}
	li, err := readIndex(n.cfg.Index)
	if err != nil {
		n.metrics.indexReloads.WithLabelValues("refused").Inc()
		n.log.Error("index reload refused; keeping the index in use", "index", n.cfg.Index, "err", err,
			"version", n.index.Load().Version)
		return n.indexInfo(), err
	}
	n.useIndex(li)
	n.metrics.indexReloads.WithLabelValues("ok").Inc()
	return n.indexInfo(), nil
}

// indexChanged reports whether the index file differs (size or time) from
// the one loaded.
func (n *Node) indexChanged() bool {
	li := n.index.Load()
	if li.Source == "" {
		return false
	}
	st, err := os.Stat(li.Source)
	return err == nil && (!st.ModTime().Equal(li.modTime) || st.Size() != li.size)
}
