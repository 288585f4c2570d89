//go:build !amd64 || purego

package detector

import "testing"

// forEachKernelSet runs f once: there is only the Go set of kernels.
func forEachKernelSet(t *testing.T, f func(t *testing.T)) {
	t.Run("go", f)
}
