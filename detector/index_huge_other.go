//go:build !linux

package detector

// idxAdviseHuge is a no-op where the kernel takes no such advice.
func idxAdviseHuge([]byte) {}
