package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Anchors returns the absolute path of the shared anchors directory
// (<module root>/../shared/anchors), found by walking up from the test's
// working directory (its package directory) to the directory holding go.mod.
// When the directory cannot be found it calls tb.Fatalf if the environment
// variable CI is "true", and tb.Skip otherwise.
func Anchors(tb testing.TB) string {
	tb.Helper()
	dir, err := anchorsDir()
	if err != nil {
		missing(tb, err)
	}
	return dir
}

// AnchorPath returns the absolute path of elem joined under the anchors
// directory, with the same failure rule as Anchors when the directory or the
// file itself is missing.
func AnchorPath(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Anchors(tb)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		missing(tb, err)
	}
	return p
}

// InCI reports whether the environment declares a CI run (CI=true), in which
// case missing test data is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

func missing(tb testing.TB, err error) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("anchors data required when CI=true: %v", err)
		return
	}
	tb.Skipf("anchors data not available: %v", err)
}

func anchorsDir() (string, error) {
	// VIGIL_ANCHORS points elsewhere when the checkout has no ../shared.
	if dir := os.Getenv("VIGIL_ANCHORS"); dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("VIGIL_ANCHORS=%s is not a directory", dir)
		}
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	root, err := moduleRoot(wd)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(filepath.Dir(root), "shared", "anchors")
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("module root %s: %w", root, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	return dir, nil
}

// moduleRoot walks up from dir to the first directory holding a go.mod.
func moduleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("absolute path of %s: %w", dir, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("looking for go.mod in %s: %w", dir, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
