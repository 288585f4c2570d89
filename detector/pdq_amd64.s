//go:build !purego

#include "textflag.h"

// SSE2 kernels of the PDQ tent filter (baseline amd64, no feature checks).
// Each does the reference's float32 operations in the reference's order
// within a line, several independent lines per instruction; DIVPS is the
// IEEE float32 division the reference does, lane by lane.

// func boxBytesBulkSSE2(out *float32, add, sub *byte, n int, sum int32, div float32) int32
//
// n is a multiple of 8. For i in [0, n): sum += add[i] - sub[i];
// out[i] = float32(sum) / div. Returns the final sum.
//
// The deltas of eight samples are prefix-summed inside two vectors of four
// int32 and offset by the running sum (an integer, so exact in any order).
TEXT ·boxBytesBulkSSE2(SB), NOSPLIT, $0-44
	MOVQ  out+0(FP), DI
	MOVQ  add+8(FP), SI
	MOVQ  sub+16(FP), DX
	MOVQ  n+24(FP), CX
	MOVL  sum+32(FP), AX
	MOVSS div+36(FP), X7
	SHUFPS $0x00, X7, X7  // div in all lanes
	MOVQ  AX, X6
	PSHUFD $0x00, X6, X6  // running sum in all lanes
	PXOR  X5, X5          // zero
	SHRQ  $3, CX
	JZ    bytesdone

bytesloop:
	MOVQ  (SI), X0
	PUNPCKLBW X5, X0      // 8 x uint16 add samples
	MOVQ  (DX), X1
	PUNPCKLBW X5, X1      // 8 x uint16 sub samples
	PSUBW X1, X0          // 8 x int16 deltas, -255..255

	// Sign-extend the deltas to int32: interleave each word with itself,
	// then shift the upper copy down arithmetically.
	MOVO  X0, X2
	PUNPCKLWL X0, X2
	PSRAL $16, X2         // deltas 0..3
	MOVO  X0, X3
	PUNPCKHWL X0, X3
	PSRAL $16, X3         // deltas 4..7

	// Inclusive prefix sums within each vector.
	MOVO  X2, X4
	PSLLO $4, X4
	PADDL X4, X2
	MOVO  X2, X4
	PSLLO $8, X4
	PADDL X4, X2
	MOVO  X3, X4
	PSLLO $4, X4
	PADDL X4, X3
	MOVO  X3, X4
	PSLLO $8, X4
	PADDL X4, X3

	// Make 4..7 prefix sums over all eight, then offset both by the running
	// sum. The running sum itself advances by one addition of the eight
	// deltas' total, so the loop-carried chain is a single instruction.
	PSHUFD $0xff, X2, X4
	PADDL X4, X3
	PSHUFD $0xff, X3, X4  // total of the eight deltas
	PADDL X6, X2          // running sums 0..3
	PADDL X6, X3          // running sums 4..7
	PADDL X4, X6          // running sum after the eight

	CVTPL2PS X2, X2
	DIVPS X7, X2
	MOVUPS X2, (DI)
	CVTPL2PS X3, X3
	DIVPS X7, X3
	MOVUPS X3, 16(DI)

	ADDQ  $8, SI
	ADDQ  $8, DX
	ADDQ  $32, DI
	DECQ  CX
	JNZ   bytesloop

bytesdone:
	MOVQ  X6, AX
	MOVL  AX, ret+40(FP)
	RET

// func colBlock4SSE2(sum, a0, a1, a2, a3, b0, b1, b2, b3, out *float32, n int, div float32)
//
// n is a multiple of 4. Four rows of the first column pass over n columns:
// for k in 0..3: sum[i] += ak[i]; sum[i] -= bk[i]; out[4i+k] = sum[i] / div.
// Each group of four columns yields a 4x4 block (rows by columns) that is
// transposed so the output is interleaved by column.
TEXT ·colBlock4SSE2(SB), NOSPLIT, $0-92
	MOVQ  sum+0(FP), DI
	MOVQ  a0+8(FP), SI
	MOVQ  a1+16(FP), BX
	MOVQ  a2+24(FP), R8
	MOVQ  a3+32(FP), R9
	MOVQ  b0+40(FP), R10
	MOVQ  b1+48(FP), R11
	MOVQ  b2+56(FP), R12
	MOVQ  b3+64(FP), R13
	MOVQ  out+72(FP), DX
	MOVQ  n+80(FP), CX
	MOVSS div+88(FP), X7
	SHUFPS $0x00, X7, X7
	XORQ  AX, AX
	SHRQ  $2, CX
	JZ    coldone

colloop:
	MOVUPS (DI)(AX*1), X0

	MOVUPS (SI)(AX*1), X1
	ADDPS X1, X0
	MOVUPS (R10)(AX*1), X1
	SUBPS X1, X0
	MOVAPS X0, X2
	DIVPS X7, X2          // row 0

	MOVUPS (BX)(AX*1), X1
	ADDPS X1, X0
	MOVUPS (R11)(AX*1), X1
	SUBPS X1, X0
	MOVAPS X0, X3
	DIVPS X7, X3          // row 1

	MOVUPS (R8)(AX*1), X1
	ADDPS X1, X0
	MOVUPS (R12)(AX*1), X1
	SUBPS X1, X0
	MOVAPS X0, X4
	DIVPS X7, X4          // row 2

	MOVUPS (R9)(AX*1), X1
	ADDPS X1, X0
	MOVUPS (R13)(AX*1), X1
	SUBPS X1, X0
	MOVAPS X0, X5
	DIVPS X7, X5          // row 3

	MOVUPS X0, (DI)(AX*1)

	// Transpose rows X2..X5 into columns.
	MOVAPS X2, X6
	UNPCKLPS X3, X6       // r0c0 r1c0 r0c1 r1c1
	UNPCKHPS X3, X2       // r0c2 r1c2 r0c3 r1c3
	MOVAPS X4, X8
	UNPCKLPS X5, X8       // r2c0 r3c0 r2c1 r3c1
	UNPCKHPS X5, X4       // r2c2 r3c2 r2c3 r3c3
	MOVAPS X6, X9
	MOVLHPS X8, X9        // column 0
	MOVHLPS X6, X8        // column 1
	MOVAPS X2, X10
	MOVLHPS X4, X10       // column 2
	MOVHLPS X2, X4        // column 3
	MOVUPS X9, (DX)
	MOVUPS X8, 16(DX)
	MOVUPS X10, 32(DX)
	MOVUPS X4, 48(DX)

	ADDQ  $16, AX
	ADDQ  $64, DX
	DECQ  CX
	JNZ   colloop

coldone:
	RET

// func rowBulk16SSE2(acc *[16]float32, add, sub *float32, stride, n int)
//
// Sixteen rows of the second row pass side by side, four interleaved groups
// of four rows stride bytes apart: for each of n columns, acc += the
// entering column's values, then acc -= the leaving column's, lane by lane.
TEXT ·rowBulk16SSE2(SB), NOSPLIT, $0-40
	MOVQ  acc+0(FP), DI
	MOVQ  add+8(FP), SI
	MOVQ  sub+16(FP), DX
	MOVQ  stride+24(FP), R8
	MOVQ  n+32(FP), CX
	LEAQ  (R8)(R8*2), R10
	MOVUPS 0(DI), X0
	MOVUPS 16(DI), X1
	MOVUPS 32(DI), X2
	MOVUPS 48(DI), X3
	TESTQ CX, CX
	JZ    rowdone

rowloop:
	MOVUPS (SI), X4
	MOVUPS (SI)(R8*1), X5
	MOVUPS (SI)(R8*2), X6
	MOVUPS (SI)(R10*1), X7
	ADDPS X4, X0
	ADDPS X5, X1
	ADDPS X6, X2
	ADDPS X7, X3
	MOVUPS (DX), X4
	MOVUPS (DX)(R8*1), X5
	MOVUPS (DX)(R8*2), X6
	MOVUPS (DX)(R10*1), X7
	SUBPS X4, X0
	SUBPS X5, X1
	SUBPS X6, X2
	SUBPS X7, X3
	ADDQ  $16, SI
	ADDQ  $16, DX
	DECQ  CX
	JNZ   rowloop

rowdone:
	MOVUPS X0, 0(DI)
	MOVUPS X1, 16(DI)
	MOVUPS X2, 32(DI)
	MOVUPS X3, 48(DI)
	RET

// func axpy4SSE2(t, a0, a1, a2, a3 *float32, c *[4]float32, n int)
//
// n is a multiple of 4. For j in [0, n):
// t[j] = (((t[j] + c0*a0[j]) + c1*a1[j]) + c2*a2[j]) + c3*a3[j],
// each product and sum rounded to float32 (no fused multiply-add): four
// steps of the DCT's sums in the reference's order, four outputs at once.
TEXT ·axpy4SSE2(SB), NOSPLIT, $0-56
	MOVQ  t+0(FP), DI
	MOVQ  a0+8(FP), SI
	MOVQ  a1+16(FP), BX
	MOVQ  a2+24(FP), R8
	MOVQ  a3+32(FP), R9
	MOVQ  c+40(FP), DX
	MOVQ  n+48(FP), CX
	MOVSS 0(DX), X4
	SHUFPS $0x00, X4, X4
	MOVSS 4(DX), X5
	SHUFPS $0x00, X5, X5
	MOVSS 8(DX), X6
	SHUFPS $0x00, X6, X6
	MOVSS 12(DX), X7
	SHUFPS $0x00, X7, X7
	XORQ  AX, AX
	SHRQ  $2, CX
	JZ    axpydone

axpyloop:
	MOVUPS (DI)(AX*1), X0
	MOVUPS (SI)(AX*1), X1
	MULPS X4, X1
	ADDPS X1, X0
	MOVUPS (BX)(AX*1), X1
	MULPS X5, X1
	ADDPS X1, X0
	MOVUPS (R8)(AX*1), X1
	MULPS X6, X1
	ADDPS X1, X0
	MOVUPS (R9)(AX*1), X1
	MULPS X7, X1
	ADDPS X1, X0
	MOVUPS X0, (DI)(AX*1)
	ADDQ  $16, AX
	DECQ  CX
	JNZ   axpyloop

axpydone:
	RET

DATA gradConsts<>+0(SB)/4, $100.0
DATA gradConsts<>+4(SB)/4, $255.0
GLOBL gradConsts<>(SB), RODATA|NOPTR, $8

// func gradSumSSE2(a, b *float32, n int) int64
//
// n is a multiple of 4. Returns the sum over j in [0, n) of
// |int32(((a[j] - b[j]) * 100) / 255)|, the float32 operations and the
// truncation of the reference's quality metric, four at a time.
TEXT ·gradSumSSE2(SB), NOSPLIT, $0-32
	MOVQ  a+0(FP), SI
	MOVQ  b+8(FP), DX
	MOVQ  n+16(FP), CX
	MOVSS gradConsts<>+0(SB), X6
	SHUFPS $0x00, X6, X6
	MOVSS gradConsts<>+4(SB), X7
	SHUFPS $0x00, X7, X7
	PXOR  X5, X5          // four int32 partial sums
	XORQ  AX, AX
	SHRQ  $2, CX
	JZ    graddone

gradloop:
	MOVUPS (SI)(AX*1), X0
	MOVUPS (DX)(AX*1), X1
	SUBPS X1, X0
	MULPS X6, X0
	DIVPS X7, X0
	CVTTPS2PL X0, X0      // truncate toward zero
	MOVO  X0, X1
	PSRAL $31, X1         // 0 or -1
	PXOR  X1, X0
	PSUBL X1, X0          // absolute value
	PADDL X0, X5
	ADDQ  $16, AX
	DECQ  CX
	JNZ   gradloop

graddone:
	PSHUFD $0x4e, X5, X0
	PADDL X0, X5
	PSHUFD $0xb1, X5, X0
	PADDL X0, X5
	MOVL  X5, AX
	MOVLQSX AX, AX
	MOVQ  AX, ret+24(FP)
	RET

// Eight 7s: the VPERMD index that copies element 7 to every element.
DATA sevens<>+0(SB)/4, $7
DATA sevens<>+4(SB)/4, $7
DATA sevens<>+8(SB)/4, $7
DATA sevens<>+12(SB)/4, $7
DATA sevens<>+16(SB)/4, $7
DATA sevens<>+20(SB)/4, $7
DATA sevens<>+24(SB)/4, $7
DATA sevens<>+28(SB)/4, $7
GLOBL sevens<>(SB), RODATA|NOPTR, $32

// func boxBytesBulkAVX2(out *float32, add, sub *byte, n int, sum int32, div float32) int32
//
// boxBytesBulkSSE2 sixteen samples at a time; n is a multiple of 16. The
// deltas are prefix-summed as int16 within each 128-bit half (eight deltas
// of at most 255 in magnitude fit), widened to int32, the first half's
// total carried into the second, and both offset by the running sum.
TEXT ·boxBytesBulkAVX2(SB), NOSPLIT, $0-44
	MOVQ  out+0(FP), DI
	MOVQ  add+8(FP), SI
	MOVQ  sub+16(FP), DX
	MOVQ  n+24(FP), CX
	MOVL  sum+32(FP), AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6           // running sum in all lanes
	VBROADCASTSS div+36(FP), Y7
	VMOVDQU sevens<>(SB), Y5
	SHRQ  $4, CX
	JZ    avxbytesdone

avxbytesloop:
	VPMOVZXBW (SI), Y0
	VPMOVZXBW (DX), Y1
	VPSUBW Y1, Y0, Y0             // 16 x int16 deltas
	VPSLLDQ $2, Y0, Y1
	VPADDW Y1, Y0, Y0
	VPSLLDQ $4, Y0, Y1
	VPADDW Y1, Y0, Y0
	VPSLLDQ $8, Y0, Y1
	VPADDW Y1, Y0, Y0             // prefix sums within each half
	VPMOVSXWD X0, Y2              // sums 0..7
	VEXTRACTI128 $1, Y0, X3
	VPMOVSXWD X3, Y3              // sums 8..15 of the second half alone
	VPERMD Y2, Y5, Y4
	VPADDD Y4, Y3, Y3             // sums 8..15
	VPERMD Y3, Y5, Y4             // total of the sixteen deltas
	VPADDD Y6, Y2, Y2
	VPADDD Y6, Y3, Y3
	VPADDD Y4, Y6, Y6             // running sum after the sixteen
	VCVTDQ2PS Y2, Y2
	VDIVPS Y7, Y2, Y2
	VMOVUPS Y2, (DI)
	VCVTDQ2PS Y3, Y3
	VDIVPS Y7, Y3, Y3
	VMOVUPS Y3, 32(DI)
	ADDQ  $16, SI
	ADDQ  $16, DX
	ADDQ  $64, DI
	DECQ  CX
	JNZ   avxbytesloop

avxbytesdone:
	VMOVD X6, AX
	MOVL  AX, ret+40(FP)
	VZEROUPPER
	RET

// func colBlock4AVX2(sum, a0, a1, a2, a3, b0, b1, b2, b3, out *float32, n int, div float32)
//
// colBlock4SSE2 eight columns at a time; n is a multiple of 8. The 4x8
// block of results is transposed within each 128-bit half, then the halves
// are regrouped so that the columns come out in order.
TEXT ·colBlock4AVX2(SB), NOSPLIT, $0-92
	MOVQ  sum+0(FP), DI
	MOVQ  a0+8(FP), SI
	MOVQ  a1+16(FP), BX
	MOVQ  a2+24(FP), R8
	MOVQ  a3+32(FP), R9
	MOVQ  b0+40(FP), R10
	MOVQ  b1+48(FP), R11
	MOVQ  b2+56(FP), R12
	MOVQ  b3+64(FP), R13
	MOVQ  out+72(FP), DX
	MOVQ  n+80(FP), CX
	VBROADCASTSS div+88(FP), Y7
	XORQ  AX, AX
	SHRQ  $3, CX
	JZ    avxcoldone

avxcolloop:
	VMOVUPS (DI)(AX*1), Y0
	VADDPS (SI)(AX*1), Y0, Y0
	VSUBPS (R10)(AX*1), Y0, Y0
	VDIVPS Y7, Y0, Y2             // row 0
	VADDPS (BX)(AX*1), Y0, Y0
	VSUBPS (R11)(AX*1), Y0, Y0
	VDIVPS Y7, Y0, Y3             // row 1
	VADDPS (R8)(AX*1), Y0, Y0
	VSUBPS (R12)(AX*1), Y0, Y0
	VDIVPS Y7, Y0, Y4             // row 2
	VADDPS (R9)(AX*1), Y0, Y0
	VSUBPS (R13)(AX*1), Y0, Y0
	VDIVPS Y7, Y0, Y5             // row 3
	VMOVUPS Y0, (DI)(AX*1)

	VUNPCKLPS Y3, Y2, Y8          // r0c0 r1c0 r0c1 r1c1 | same for c4, c5
	VUNPCKHPS Y3, Y2, Y9          // c2, c3 | c6, c7
	VUNPCKLPS Y5, Y4, Y10
	VUNPCKHPS Y5, Y4, Y11
	VUNPCKLPD Y10, Y8, Y12        // column 0 | column 4
	VUNPCKHPD Y10, Y8, Y13        // column 1 | column 5
	VUNPCKLPD Y11, Y9, Y14        // column 2 | column 6
	VUNPCKHPD Y11, Y9, Y6         // column 3 | column 7
	VPERM2F128 $0x20, Y13, Y12, Y0
	VPERM2F128 $0x20, Y6, Y14, Y1
	VPERM2F128 $0x31, Y13, Y12, Y2
	VPERM2F128 $0x31, Y6, Y14, Y3
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	VMOVUPS Y3, 96(DX)

	ADDQ  $32, AX
	ADDQ  $128, DX
	DECQ  CX
	JNZ   avxcolloop

avxcoldone:
	VZEROUPPER
	RET
