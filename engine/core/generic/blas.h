/* The BLAS calls of tensor_blas.c, written once for T (core/generic.h). */

/* c (m x n, contiguous) = op(A) op(B), A m x k and B k x n as prepared. */
static void S(gemm)(const blas_operand *pa, const blas_operand *pb, int m, int n, int k, T *c) {
    BLAS(gemm)(CblasRowMajor, pa->trans, pb->trans, m, n, k, (T)1, pa->data, pa->ld, pb->data,
               pb->ld, (T)0, c, n);
}

/* y = op(A) x, A stored sm x sn as prepared, x inc elements apart. */
static void S(gemv)(const blas_operand *pa, int sm, int sn, const T *x, int inc, T *y) {
    BLAS(gemv)(CblasRowMajor, pa->trans, sm, sn, (T)1, pa->data, pa->ld, x, inc, (T)0, y, 1);
}
