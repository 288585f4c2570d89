package detector

// mihPrefetch asks the CPU to bring the cache line at each address in.
// Unlike a load, a prefetch that misses does not hold up the instructions
// after it, so a loop of them keeps as many misses in flight as the memory
// system allows. The addresses must point into live memory the caller keeps
// reachable; a prefetch never faults.
//
//go:noescape
func mihPrefetch(addrs []uintptr)
