package node

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/vigilstream/vigil/detector"
)

// loadedIndex is an index with where and when it came from.
type loadedIndex struct {
	Index    *detector.Index
	Source   string
	Version  string // CRC-32C of the file
	LoadedAt time.Time
	modTime  time.Time
	size     int64
	// fleet is set for an index from the fleet's object store rather
	// than the file: the file's changes do not replace it.
	fleet bool
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

// readIndex loads path ("" for an empty index): a compiled index or a hash
// list. Its version is the CRC-32C of the file, so every node that loads
// the same file reports the same version.
func (n *Node) readIndex(path string) (*loadedIndex, error) {
	if path == "" {
		idx, _ := detector.NewIndex(nil)
		return &loadedIndex{Index: idx, LoadedAt: time.Now()}, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("node: index: %w", err)
	}
	// A list the node serves is read strictly: a truncated or damaged
	// file is refused whole rather than served in part. `vigil index
	// build` compiles lists leniently, reporting what it skipped.
	idx, _, err := detector.LoadIndexReport(path, detector.ListOptions{Strict: true})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	version, err := fileCRC(path)
	if err != nil {
		return nil, fmt.Errorf("node: index: %w", err)
	}
	return &loadedIndex{Index: idx, Source: path, Version: version, LoadedAt: time.Now(), modTime: st.ModTime(), size: st.Size()}, nil
}

// indexFromBytes loads an index held in data: a compiled index or a hash
// list read strictly, as readIndex does for a file. source names it, and
// a list's entries are named after source's base name, as they would be
// had the file been loaded.
func indexFromBytes(data []byte, source string) (*detector.Index, error) {
	if detector.IsCompiledIndex(data) {
		idx, err := detector.ParseIndex(data)
		if err != nil {
			return nil, fmt.Errorf("node: index %s: %w", source, err)
		}
		return idx, nil
	}
	var b detector.Builder
	if _, err := b.AddList(bytes.NewReader(data), detector.ListOptions{Strict: true, Source: source}); err != nil {
		return nil, fmt.Errorf("node: index %s: %w", source, err)
	}
	idx, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("node: index %s: %w", source, err)
	}
	return idx, nil
}

func fileCRC(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%08x", h.Sum32()), nil
}

// errNoIndexFile refuses a reload when the node was started without --index.
var errNoIndexFile = errors.New("node: no index file configured (--index)")

// ReloadIndex loads the index file again and swaps it in atomically. A
// file that does not load (corrupt, truncated, missing) is refused with the
// reason and the node keeps the index it has.
func (n *Node) ReloadIndex() (indexInfo, error) {
	if n.cfg.Index == "" {
		return n.indexInfo(), errNoIndexFile
	}
	return n.swapIndex(n.cfg.Index, func() (*loadedIndex, error) { return n.readIndex(n.cfg.Index) })
}

// swapIndex loads an index with load and swaps it in atomically, one swap
// at a time; an index that does not load is refused with the reason and
// the node keeps the one it has. what names the index in the log.
func (n *Node) swapIndex(what string, load func() (*loadedIndex, error)) (indexInfo, error) {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	li, err := load()
	if err != nil {
		n.metrics.indexReloads.WithLabelValues("refused").Inc()
		n.log.Error("index reload refused; keeping the index in use", "index", what, "err", err,
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
	if li.Source == "" || li.fleet {
		return false
	}
	st, err := os.Stat(li.Source)
	return err == nil && (!st.ModTime().Equal(li.modTime) || st.Size() != li.size)
}
