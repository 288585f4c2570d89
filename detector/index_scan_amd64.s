#include "textflag.h"

// Pieces the kernels below share. Registers, where used: SI the addresses
// of lines, BX the line index, R13 the line, CX its header, DX the count of
// positions in out (DI), R11/R12 the spill pairs and their count; X4 the
// position bits (idBits), Z5/Y5 ql broadcast, Z6/Y6 the position mask, Z7/Y7
// the allowed distance. SPILL and AVX2HALF name frame slots (ov+56,
// lut+64) that the line kernels expanding them both have; vet checks frame
// offsets only inside a TEXT block, which is why the macros come first.

// LANES sets CX to the line's header and reg to the mask of its postings'
// lanes, 1..min(header, 15). Clobbers AX.
#define LANES(reg) \
	MOVL (R13), CX; \
	MOVL $15, AX; \
	CMPL CX, AX; \
	CMOVLCS CX, AX; \
	MOVL $2, reg; \
	SHLXL AX, reg, reg; \
	SUBL $2, reg

// FILTER16 keeps the postings in Z0's lanes of K1 whose low bits lie within
// Z7 of ql: their positions are stored at out[DX:], 64 bytes, and counted
// into DX. Clobbers Z0-Z2, K2, AX.
#define FILTER16 \
	VPSRLD X4, Z0, Z1; \
	VPXORD Z5, Z1, Z1; \
	VPOPCNTD Z1, Z1; \
	VPCMPUD $2, Z7, Z1, K1, K2; \
	VPANDD Z6, Z0, Z0; \
	VPCOMPRESSD Z0, K2, Z2; \
	VMOVDQU32 Z2, (DI)(DX*4); \
	KMOVW K2, AX; \
	POPCNTL AX, AX; \
	ADDQ AX, DX

// SPILL appends line BX's overflow run to spill, the pair (start, allowed
// distance), and prefetches the run's first two lines: a run starts
// anywhere in a line, and the 64-byte load of its postings reaches into the
// next (prefetching only the first left the runs of a 10M PDQ query 3.1 us
// of waiting; with both, 0.7 us). For a header CX above 15. Clobbers AX.
#define SPILL \
	LEAL -16(CX), AX; \
	MOVL AX, (R11)(R12*8); \
	MOVQ (SI)(BX*8), AX; \
	ANDL $63, AX; \
	MOVL AX, 4(R11)(R12*8); \
	INCQ R12; \
	MOVQ ov+56(FP), AX; \
	PREFETCHT0 -64(AX)(CX*4); \
	PREFETCHT0 (AX)(CX*4)

// AVX2HALF filters the eight postings at off(R13), whose lanes are the low
// byte of R14, as FILTER16 does 16: popcounts by nibble lookups (Y8-Y11),
// the passing positions packed by a permutation from lut. Clobbers Y0-Y3,
// AX, R15.
#define AVX2HALF(off) \
	VMOVDQU off(R13), Y0; \
	VPSRLD X4, Y0, Y1; \
	VPXOR Y5, Y1, Y1; \
	VPAND Y8, Y1, Y2; \
	VPSRLW $4, Y1, Y1; \
	VPAND Y8, Y1, Y1; \
	VPSHUFB Y2, Y9, Y2; \
	VPSHUFB Y1, Y9, Y1; \
	VPADDB Y1, Y2, Y1; \
	VPMADDUBSW Y10, Y1, Y1; \
	VPMADDWD Y11, Y1, Y1; \
	VPCMPGTD Y7, Y1, Y1; \
	VMOVMSKPS Y1, AX; \
	NOTL AX; \
	ANDL R14, AX; \
	ANDL $0xff, AX; \
	VPAND Y6, Y0, Y0; \
	MOVQ AX, R15; \
	SHLQ $5, R15; \
	ADDQ lut+64(FP), R15; \
	VMOVDQU (R15), Y3; \
	VPERMD Y0, Y3, Y2; \
	VMOVDQU Y2, (DI)(DX*4); \
	POPCNTL AX, AX; \
	ADDQ AX, DX

// func mihScanCellsAVX512(addrs *uintptr, n, total, dist int, ql, idBits uint32, out, spill, ov *uint32) (nout, nspill int)
//
// Scans the posting cells at addrs[0:n]: each address is a 64-byte line
// with the allowed low-bit distance in its low 6 bits. The postings of a
// line (lanes 1..min(header, 15)) whose low bits lie within that distance of
// ql have their positions appended to out, 64 bytes stored at a time, so out
// needs 16 spare words. Lines whose header says they overflow append a
// pair to spill, the start of their overflow run in ov and the allowed
// distance, and have the start of that run prefetched. Line addrs[i+dist]
// is prefetched while line i is scanned, as long as i+dist < total.
TEXT ·mihScanCellsAVX512(SB), NOSPLIT, $0-80
	MOVQ addrs+0(FP), SI
	MOVQ n+8(FP), R8
	MOVQ total+16(FP), R9
	MOVQ dist+24(FP), R10
	MOVL ql+32(FP), AX
	VPBROADCASTD AX, Z5
	MOVL idBits+36(FP), CX
	VMOVQ CX, X4
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	VPBROADCASTD AX, Z6
	MOVQ out+40(FP), DI
	MOVQ spill+48(FP), R11
	XORQ BX, BX
	XORQ DX, DX
	XORQ R12, R12
	TESTQ R8, R8
	JEQ done

loop:
	LEAQ (BX)(R10*1), AX
	CMPQ AX, R9
	JAE noprefetch
	MOVQ (SI)(AX*8), AX
	PREFETCHT0 (AX)

noprefetch:
	MOVQ (SI)(BX*8), R13
	MOVQ R13, AX
	ANDQ $63, AX
	VPBROADCASTD AX, Z7
	ANDQ $~63, R13
	VMOVDQU32 (R13), Z0
	LANES(R14)
	KMOVW R14, K1
	FILTER16
	CMPL CX, $15
	JLS next
	SPILL

next:
	INCQ BX
	CMPQ BX, R8
	JNE loop

done:
	VZEROUPPER
	MOVQ DX, nout+64(FP)
	MOVQ R12, nspill+72(FP)
	RET

// func mihScanRunsAVX512(ov *uint32, runs *uint32, n int, ql, idBits uint32, out *uint32) (nout int)
//
// Scans n overflow runs of one slot: runs holds (start, allowed distance)
// pairs, and ov[start] is the run's length, its postings after it. Postings
// pass as in mihScanCellsAVX512, 16 at a time with a masked load at the
// tail; out needs 16 spare words. The first two lines of the run 16 ahead
// are prefetched: a run is a few postings at an unaligned place.
TEXT ·mihScanRunsAVX512(SB), NOSPLIT, $0-48
	MOVQ ov+0(FP), SI
	MOVQ runs+8(FP), R8
	MOVQ n+16(FP), R9
	MOVL ql+24(FP), AX
	VPBROADCASTD AX, Z5
	MOVL idBits+28(FP), CX
	VMOVQ CX, X4
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	VPBROADCASTD AX, Z6
	MOVQ out+32(FP), DI
	XORQ DX, DX
	TESTQ R9, R9
	JEQ rundone

run:
	CMPQ R9, $16
	JLS noprefetchrun
	MOVL 128(R8), AX             // run 16 ahead: its first two lines
	PREFETCHT0 (SI)(AX*4)
	PREFETCHT0 64(SI)(AX*4)

noprefetchrun:
	MOVL (R8), AX
	LEAQ (SI)(AX*4), R10
	MOVL (R10), CX
	ADDQ $4, R10
	MOVL 4(R8), AX
	VPBROADCASTD AX, Z7

chunk:
	MOVL $0xffff, R11
	CMPL CX, $16
	JAE full
	MOVL $1, R11
	SHLL CX, R11
	DECL R11

full:
	KMOVW R11, K1
	VMOVDQU32.Z (R10), K1, Z0
	FILTER16
	ADDQ $64, R10
	SUBL $16, CX
	JA chunk

	ADDQ $8, R8
	DECQ R9
	JNE run

rundone:
	VZEROUPPER
	MOVQ DX, nout+40(FP)
	RET

// func mihScanCellsAVX2(addrs *uintptr, n, total, dist int, ql, idBits uint32, out, spill, ov *uint32, lut *[256][8]uint32) (nout, nspill int)
//
// mihScanCellsAVX2 is mihScanCellsAVX512 for CPUs without it: eight
// postings a step, the low bits counted by nibble lookups and summed into
// dwords, the passing positions packed by a permutation from lut.
TEXT ·mihScanCellsAVX2(SB), NOSPLIT, $0-88
	MOVQ addrs+0(FP), SI
	MOVQ n+8(FP), R8
	MOVQ total+16(FP), R9
	MOVQ dist+24(FP), R10
	MOVL ql+32(FP), AX
	VMOVQ AX, X5
	VPBROADCASTD X5, Y5          // ql
	MOVL idBits+36(FP), CX
	VMOVQ CX, X4                 // shift count
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	VMOVQ AX, X6
	VPBROADCASTD X6, Y6          // position mask
	MOVL $0x0f0f0f0f, AX
	VMOVQ AX, X8
	VPBROADCASTD X8, Y8          // low nibbles
	MOVQ $0x0302020102010100, AX
	VMOVQ AX, X9
	MOVQ $0x0403030203020201, AX
	VPINSRQ $1, AX, X9, X9
	VINSERTI128 $1, X9, Y9, Y9   // popcount of a nibble, both lanes
	MOVL $0x01010101, AX
	VMOVQ AX, X10
	VPBROADCASTD X10, Y10        // bytes of 1
	MOVL $0x00010001, AX
	VMOVQ AX, X11
	VPBROADCASTD X11, Y11        // words of 1
	MOVQ out+40(FP), DI
	MOVQ spill+48(FP), R11
	XORQ BX, BX
	XORQ DX, DX
	XORQ R12, R12
	TESTQ R8, R8
	JEQ done2

loop2:
	LEAQ (BX)(R10*1), AX
	CMPQ AX, R9
	JAE noprefetch2
	MOVQ (SI)(AX*8), AX
	PREFETCHT0 (AX)

noprefetch2:
	MOVQ (SI)(BX*8), R13
	MOVQ R13, AX
	ANDQ $63, AX
	VMOVQ AX, X7
	VPBROADCASTD X7, Y7          // allowed distance
	ANDQ $~63, R13
	LANES(R14)
	AVX2HALF(0)                  // lanes 0-7
	SHRL $8, R14
	AVX2HALF(32)                 // lanes 8-15
	CMPL CX, $15
	JLS next2
	SPILL

next2:
	INCQ BX
	CMPQ BX, R8
	JNE loop2

done2:
	VZEROUPPER
	MOVQ DX, nout+72(FP)
	MOVQ R12, nspill+80(FP)
	RET

// func mihVerify4(codes *uint64, cands *uint32, n, dist int, q *[4]uint64, r int, hits *idxHit) (nhits int)
//
// Verifies candidates of a 4-word table: appends (position, distance) to
// hits for each of cands[:n] whose code lies within r of q, prefetching
// the code of cands[i+dist] while cands[i] is checked.
TEXT ·mihVerify4(SB), NOSPLIT, $0-64
	MOVQ codes+0(FP), SI
	MOVQ cands+8(FP), R8
	MOVQ n+16(FP), R9
	MOVQ q+32(FP), AX
	MOVQ 0(AX), R11
	MOVQ 8(AX), R12
	MOVQ 16(AX), R13
	MOVQ 24(AX), R14
	MOVQ r+40(FP), DI
	XORQ BX, BX                  // i
	XORQ DX, DX                  // hits so far
	TESTQ R9, R9
	JEQ verifydone

verify:
	MOVQ dist+24(FP), AX
	ADDQ BX, AX
	CMPQ AX, R9
	JAE noprefetchcode
	MOVL (R8)(AX*4), AX
	SHLQ $5, AX
	PREFETCHT0 (SI)(AX*1)

noprefetchcode:
	MOVL (R8)(BX*4), CX
	MOVQ CX, AX
	SHLQ $5, AX
	MOVQ 0(SI)(AX*1), R10
	XORQ R11, R10
	POPCNTQ R10, R10
	MOVQ R10, R9
	MOVQ 8(SI)(AX*1), R10
	XORQ R12, R10
	POPCNTQ R10, R10
	ADDQ R10, R9
	MOVQ 16(SI)(AX*1), R10
	XORQ R13, R10
	POPCNTQ R10, R10
	ADDQ R10, R9
	MOVQ 24(SI)(AX*1), R10
	XORQ R14, R10
	POPCNTQ R10, R10
	ADDQ R10, R9
	CMPQ R9, DI
	JGT miss
	MOVQ hits+48(FP), AX
	MOVL CX, (AX)(DX*8)
	MOVL R9, 4(AX)(DX*8)
	INCQ DX

miss:
	MOVQ n+16(FP), R9
	INCQ BX
	CMPQ BX, R9
	JNE verify

verifydone:
	MOVQ DX, nhits+56(FP)
	RET
