package signal

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The fleet's index lives in a JetStream object store: one object,
// IndexObject, that `vigil index publish` replaces. Every node watches it,
// and a node that starts later reads the one there. The object's SHA-256
// digest is checked by the client as it reads; its metadata carries the
// CRC-32C (the version nodes report for a file too) and the file name the
// list entries are named after.
const (
	BucketIndex = "VIGIL_INDEX"
	IndexObject = "current"

	metaCRC     = "crc32c"
	metaSource  = "source"
	metaEntries = "entries"
	metaBy      = "published-by"
)

// IndexMeta describes a published index.
type IndexMeta struct {
	// Version is the CRC-32C of the bytes, in hex.
	Version string
	// Source is the file name it was published from.
	Source string
	// Entries is the number of entries it holds.
	Entries int
	// PublishedBy names who published it.
	PublishedBy string
	// Size, Digest, ModTime and NUID (the upload's unique id) come from
	// the object store.
	Size    uint64
	Digest  string
	ModTime time.Time
	NUID    string
}

// ErrIndexChecksum refuses an index whose bytes do not match the version
// it was published with.
var ErrIndexChecksum = errors.New("signal: index checksum mismatch")

// IndexStore opens the index object store, creating it when missing. An
// existing store is used as it is, so a tool with other settings (its
// replica count) never reconfigures the fleet's.
func (b *Bus) IndexStore(ctx context.Context) (jetstream.ObjectStore, error) {
	obs, err := b.js.ObjectStore(ctx, BucketIndex)
	if err == nil {
		return obs, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("signal: object store %s: %w", BucketIndex, err)
	}
	obs, err = b.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BucketIndex,
		Description: "Vigil: the fleet's index",
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		obs, err = b.js.ObjectStore(ctx, BucketIndex) // another node made it first
	}
	if err != nil {
		return nil, fmt.Errorf("signal: object store %s: %w", BucketIndex, err)
	}
	return obs, nil
}

// PublishIndex uploads the index file at path as the fleet's index. The
// caller checks that it loads first; entries is what it holds.
func (b *Bus) PublishIndex(ctx context.Context, path string, entries int, by string) (IndexMeta, error) {
	obs, err := b.IndexStore(ctx)
	if err != nil {
		return IndexMeta{}, err
	}
	version, err := fileCRC32C(path)
	if err != nil {
		return IndexMeta{}, fmt.Errorf("signal: index %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return IndexMeta{}, fmt.Errorf("signal: index %s: %w", path, err)
	}
	defer f.Close()
	info, err := obs.Put(ctx, jetstream.ObjectMeta{
		Name:        IndexObject,
		Description: "Vigil index " + filepath.Base(path),
		Metadata: map[string]string{
			metaCRC: version, metaSource: filepath.Base(path), metaEntries: strconv.Itoa(entries), metaBy: by,
		},
	}, f)
	if err != nil {
		return IndexMeta{}, fmt.Errorf("signal: publish index %s: %w", path, err)
	}
	return indexMeta(info), nil
}

func indexMeta(info *jetstream.ObjectInfo) IndexMeta {
	m := IndexMeta{Size: info.Size, Digest: info.Digest, ModTime: info.ModTime, NUID: info.NUID}
	if info.Metadata != nil {
		m.Version, m.Source, m.PublishedBy = info.Metadata[metaCRC], info.Metadata[metaSource], info.Metadata[metaBy]
		m.Entries, _ = strconv.Atoi(info.Metadata[metaEntries])
	}
	return m
}

// IndexUpdate is a new fleet index seen by WatchIndex.
type IndexUpdate struct {
	Meta IndexMeta
	// Data is the index file's bytes, verified against both the object's
	// SHA-256 digest and the published CRC-32C.
	Data []byte
}

// WatchIndex calls fn with the fleet's index when it starts (if there is
// one) and with every index published after, until ctx ends. skip, when
// it returns true for a version, spares the download of an index the
// caller has already. An object that fails verification is reported to
// bad and skipped; one that cannot be read for now (a timeout on a loaded
// cluster) is tried again, with a growing pause, until it is read or a
// newer one replaces it. fn runs on WatchIndex's goroutine, one at a time.
func (b *Bus) WatchIndex(ctx context.Context, skip func(version string) bool, fn func(IndexUpdate), bad func(IndexMeta, error)) error {
	obs, err := b.IndexStore(ctx)
	if err != nil {
		return err
	}
	w, err := obs.Watch(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("signal: watch %s: %w", BucketIndex, err)
	}
	defer func() { _ = w.Stop() }()
	var (
		pending *IndexMeta // the newest index not yet read
		retry   = time.NewTimer(time.Hour)
		pause   time.Duration
	)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case info, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if info == nil || info.Name != IndexObject || info.Deleted {
				continue
			}
			meta := indexMeta(info)
			if skip != nil && skip(meta.Version) {
				pending = nil
				continue
			}
			pending, pause = &meta, 0
		case <-retry.C:
		}
		if pending == nil {
			continue
		}
		meta, data, err := readIndex(ctx, obs, *pending)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil && skip != nil && skip(meta.Version):
			pending = nil
		case err == nil:
			fn(IndexUpdate{Meta: meta, Data: data})
			pending = nil
		case errors.Is(err, ErrIndexChecksum) || errors.Is(err, jetstream.ErrDigestMismatch):
			bad(*pending, err)
			pending = nil
		case errors.Is(err, errStaleIndex):
			// A replica behind the one the watcher heard from: soon
			// current.
			retry.Reset(200 * time.Millisecond)
		default:
			pause = min(max(2*pause, time.Second), 30*time.Second)
			b.log.Warn("fleet index not read; trying again", "version", pending.Version, "err", err, "in", pause)
			retry.Reset(pause)
		}
	}
}

// errStaleIndex is a read that found another upload than the one
// announced: on a cluster, the object's metadata may be read from a
// replica that has not caught up, whose chunks are already gone.
var errStaleIndex = errors.New("signal: index read from a replica behind the announcement")

// readIndex reads the index upload the watcher announced and verifies it:
// the client checks the SHA-256 digest as it reads, this the CRC-32C.
func readIndex(ctx context.Context, obs jetstream.ObjectStore, want IndexMeta) (IndexMeta, []byte, error) {
	// Without a deadline the client gives the whole read its default API
	// timeout (5 s), too short for a large index on a busy cluster.
	ctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(want.Size>>20)*time.Second)
	defer cancel()
	r, err := obs.Get(ctx, IndexObject)
	if err != nil {
		return IndexMeta{}, nil, err
	}
	defer r.Close()
	info, err := r.Info()
	if err != nil {
		return IndexMeta{}, nil, err
	}
	meta := indexMeta(info)
	if meta.NUID != want.NUID {
		// Another upload than announced: an older one (its chunks may
		// be purged, and the read would wait for them to its deadline)
		// or a newer one (the watcher announces it next).
		return meta, nil, errStaleIndex
	}
	data, err := io.ReadAll(r)
	if err == nil {
		err = verifyIndex(meta, data)
	}
	return meta, data, err
}

func verifyIndex(meta IndexMeta, data []byte) error {
	if uint64(len(data)) != meta.Size {
		return fmt.Errorf("%w: %d bytes, the object says %d", ErrIndexChecksum, len(data), meta.Size)
	}
	if got := CRC32C(data); got != meta.Version {
		return fmt.Errorf("%w: CRC-32C %s, published as %s", ErrIndexChecksum, got, meta.Version)
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is the index version of data: its CRC-32C in hex.
func CRC32C(data []byte) string { return fmt.Sprintf("%08x", crc32.Checksum(data, castagnoli)) }

func fileCRC32C(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%08x", h.Sum32()), nil
}
