//go:build !amd64

package detector

// mihPrefetch is a no-op where no prefetch instruction is wired up; the
// search is then bound by the loads themselves.
func mihPrefetch(addrs []uintptr) {}
