package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("moduleRoot = %s without go.mod: %v", root, err)
	}
	if _, err := moduleRoot(t.TempDir()); err == nil {
		t.Fatal("moduleRoot of a temporary directory found a go.mod")
	}
}

func TestAnchors(t *testing.T) {
	dir := Anchors(t)
	if !filepath.IsAbs(dir) {
		t.Fatalf("Anchors = %q, not absolute", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Fatalf("anchors README: %v", err)
	}
	if p := AnchorPath(t, "README.md"); p != filepath.Join(dir, "README.md") {
		t.Fatalf("AnchorPath = %q", p)
	}
}

// recorder stands in for a testing.TB to see which of Fatalf and Skipf the
// missing-data rule picks.
type recorder struct {
	testing.TB
	fatal, skip bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.fatal = true }
func (r *recorder) Skipf(string, ...any)  { r.skip = true }

func TestMissingFailsInCI(t *testing.T) {
	for _, tt := range []struct {
		ci          string
		fatal, skip bool
	}{
		{"true", true, false},
		{"", false, true},
		{"false", false, true},
	} {
		t.Setenv("CI", tt.ci)
		r := &recorder{TB: t}
		missing(r, os.ErrNotExist)
		if r.fatal != tt.fatal || r.skip != tt.skip {
			t.Errorf("CI=%q: fatal=%v skip=%v, want fatal=%v skip=%v", tt.ci, r.fatal, r.skip, tt.fatal, tt.skip)
		}
	}
}
