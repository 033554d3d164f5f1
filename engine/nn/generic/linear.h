/* Linear layer for one element type: included by linear.c with T, S(name)
 * and the BLAS routines GEMM, GEMV, GER, SCAL defined.
 *
 * y = x W^T + b, W: out x in (torch.nn.Linear), x: n x in.
 * Backward (dz = dL/dy): dW = dz^T x, db = sum over rows of dz,
 * dx = dz W. Every product is one BLAS call; batch 1 uses gemv / ger, which
 * skip GEMM's packing of a one-row operand. The bias lives in the fused
 * activation pass (activation.c) or in bias_forward below. */

void S(ol_linear_forward)(int64_t n, int64_t in, int64_t out,
                          const T *x, const T *w, T *z) {
    if (n == 1)
        GEMV(CblasRowMajor, CblasNoTrans, (int)out, (int)in, 1, w, (int)in,
             x, 1, 0, z, 1);
    else
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in,
             1, x, (int)in, w, (int)in, 0, z, (int)out);
}

void S(ol_linear_backward)(int64_t n, int64_t in, int64_t out,
                           const T *x, const T *w, const T *dz, T *dx,
                           T *dw, int accumulate) {
    if (n == 1) {
        /* ger only accumulates: clear first when overwriting. */
        if (!accumulate) memset(dw, 0, (size_t)(out * in) * sizeof(T));
        GER(CblasRowMajor, (int)out, (int)in, 1, dz, 1, x, 1, dw, (int)in);
        if (dx)
            GEMV(CblasRowMajor, CblasTrans, (int)out, (int)in, 1, w, (int)in,
                 dz, 1, 0, dx, 1);
        return;
    }
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)n,
         1, dz, (int)out, x, (int)in, accumulate ? 1 : 0, dw, (int)in);
    if (dx)
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in, (int)out,
             1, dz, (int)out, w, (int)in, 0, dx, (int)in);
}

void S(ol_bias_forward)(int64_t n, int64_t w, T *z, const T *b) {
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < w; j++) z[r * w + j] += b[j];
}

void S(ol_bias_backward)(int64_t n, int64_t w, const T *dz, T *db, int accumulate) {
    if (!accumulate)
        for (int64_t j = 0; j < w; j++) db[j] = 0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < w; j++) db[j] += dz[r * w + j];
}
