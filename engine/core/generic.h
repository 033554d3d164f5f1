/* Code written once for both element types: the engine's one mechanism
 * (as Torch7's THGenerateFloatTypes.h).
 *
 * A file that has generic code names it and includes this header:
 *
 *     #define OL_GENERIC "nn/generic/loss.h"
 *     #include "core/generic.h"
 *
 * which includes OL_GENERIC twice, once with each set of the names below,
 * and then undefines OL_GENERIC and them. The generic file is ordinary C
 * over these names, with no backslash-continued bodies, and the
 * preprocessor's line markers point every error, warning and debugger line
 * into it. A file may also be its own generic part (an optimizer is one
 * file): its plain part is read when OL_GENERIC is undefined, and it names
 * itself as OL_GENERIC. A header declares generic functions the same way,
 * from a generic file of declarations (nn/kernels.h).
 *
 *   T         the element type: float, then double
 *   ACC       the accumulator type of sums, norms and dots: double for both
 *   S(name)   name_f32 or name_f64: every generic function and type
 *   BLAS(fn)  cblas_sfn or cblas_dfn: cblas_sgemm, cblas_dgemm
 *   OL_T_DT   OL_F32 or OL_F64; OL_T_NAME "f32" or "f64"
 *   OL_T_F32  1 for float, 0 for double, for the rare #if
 *
 * Math functions come from <tgmath.h>, included here: in generic code
 * sqrt, exp, tanh, fabs, fma ... take T's precision from their argument
 * (expf for a float), which is the one libm choice of the engine. A
 * constant written as a double (0.5) makes an expression double; generic
 * code writes (T)0.5 where it means T.
 *
 * Vectorisation: Release builds compile with GCC's dynamic vectoriser cost
 * model (CMakeLists.txt), so plain unit-stride loops over restrict pointers
 * vectorise with a scalar tail whatever their trip count; generic code
 * needs no other device for it (no optimize pragma, no loop split by hand
 * at a multiple of the vector width). -O2 does not unswitch loops, so a
 * test of something the loop does not change (is there a bias?) goes
 * outside it: an OL_INLINE row loop called once for each outcome.
 *
 * OL_INLINE marks a generic helper that is always inlined, such as a loop
 * that takes its operator as an argument: called with a constant (an
 * operator, a NULL bias), its tests of it fold away and the caller gets
 * the loop of that one case, as if written out.
 *
 * The instance for a run-time dtype: OL_DT_CALL(dt, name, args...) calls
 * name_f32 or name_f64; OL_DT_PICK(dt, name) is that function itself, for
 * passing on (the two instances must then have one type, as the tensor
 * row kernels do). */
#ifndef OL_CORE_GENERIC_H
#define OL_CORE_GENERIC_H

#include <cblas.h>
#include <tgmath.h>

#include "core/tensor.h"

#define OL_DT_CALL(dt, name, ...) ((dt) == OL_F32 ? name##_f32(__VA_ARGS__) : name##_f64(__VA_ARGS__))
#define OL_DT_PICK(dt, name) ((dt) == OL_F32 ? name##_f32 : name##_f64)

#if defined(__GNUC__)
#define OL_INLINE static inline __attribute__((always_inline))
#else
#define OL_INLINE static inline
#endif

#endif

#ifdef OL_GENERIC

#define T float
#define ACC double
#define S(name) name##_f32
#define BLAS(fn) cblas_s##fn
#define OL_T_DT OL_F32
#define OL_T_NAME "f32"
#define OL_T_F32 1
#include OL_GENERIC
#undef T
#undef ACC
#undef S
#undef BLAS
#undef OL_T_DT
#undef OL_T_NAME
#undef OL_T_F32

#define T double
#define ACC double
#define S(name) name##_f64
#define BLAS(fn) cblas_d##fn
#define OL_T_DT OL_F64
#define OL_T_NAME "f64"
#define OL_T_F32 0
#include OL_GENERIC
#undef T
#undef ACC
#undef S
#undef BLAS
#undef OL_T_DT
#undef OL_T_NAME
#undef OL_T_F32

#undef OL_GENERIC
#endif
