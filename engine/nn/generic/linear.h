/* Linear layer for one element type: included by linear.c with T, S(name)
 * and the BLAS routines GEMM, GEMV, GER, SCAL defined.
 *
 * y = x W^T + b, W: out x in (torch.nn.Linear), x: n x in.
 * Backward (dz = dL/dy): dW = dz^T x, db = sum over rows of dz,
 * dx = dz W. Every product is one BLAS call; batch 1 uses gemv / ger, which
 * skip GEMM's packing of a one-row operand (and the overwriting weight
 * gradient there is a plain outer-product loop). WITH_THREADS (linear.c)
 * runs each call at the thread count chosen for its shape. The bias lives
 * in the fused activation pass (activation.c) or in bias_forward below. */

void S(ol_linear_forward)(int64_t n, int64_t in, int64_t out,
                          const T *x, const T *w, T *z) {
    if (n == 1)
        WITH_THREADS(1, out, in,
                     GEMV(CblasRowMajor, CblasNoTrans, (int)out, (int)in, 1, w, (int)in,
                          x, 1, 0, z, 1));
    else
        WITH_THREADS(n, out, in,
                     GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in,
                          1, x, (int)in, w, (int)in, 0, z, (int)out));
}

void S(ol_linear_backward)(int64_t n, int64_t in, int64_t out,
                           const T *x, const T *w, const T *dz, T *dx,
                           T *dw, int accumulate) {
    if (n == 1) {
        /* ger only accumulates (dw += dz x^T): reading and writing dw after
         * clearing it is three passes over the largest array of a batch-1
         * step, so the overwrite is one vectorised pass of its own. */
        if (accumulate) {
            WITH_THREADS(out, in, 1,
                         GER(CblasRowMajor, (int)out, (int)in, 1, dz, 1, x, 1, dw, (int)in));
        } else {
            for (int64_t o = 0; o < out; o++) {
                const T d = dz[o];
                T *restrict row = dw + o * in;
                for (int64_t i = 0; i < in; i++) row[i] = d * x[i];
            }
        }
        if (dx)
            WITH_THREADS(1, in, out,
                         GEMV(CblasRowMajor, CblasTrans, (int)out, (int)in, 1, w, (int)in,
                              dz, 1, 0, dx, 1));
        return;
    }
    WITH_THREADS(out, in, n,
                 GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)n,
                      1, dz, (int)out, x, (int)in, accumulate ? 1 : 0, dw, (int)in));
    if (dx)
        WITH_THREADS(n, in, out,
                     GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in, (int)out,
                          1, dz, (int)out, w, (int)in, 0, dx, (int)in));
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
