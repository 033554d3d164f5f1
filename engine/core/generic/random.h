/* The random fills of tensor.c, written once for T (core/generic.h).
 * Elements are drawn in row-major logical order whatever the strides
 * (next_offset), so that a seed gives the same tensor for any layout. */

static void S(uniform_fill)(ol_tensor *t, double lo, double hi) {
    T *base = ol_tensor_data(t);
    const T tlo = (T)lo, thi = (T)hi;
    int64_t idx[OL_MAXDIM] = {0}, off = 0;
    for (int64_t e = 0, n = ol_tensor_numel(t); e < n; e++) {
        /* as many random bits as T holds (rng.h) */
        const double u = OL_T_F32 ? (double)ol_rng_uniform_f32() : ol_rng_uniform();
        T v = (T)(lo + (hi - lo) * u);
        /* rounding to T may reach hi; keep the interval half-open */
        if (v >= thi && thi > tlo) v = nextafter(thi, tlo);
        base[off] = v;
        off = next_offset(t, idx, off);
    }
}

static void S(normal_fill)(ol_tensor *t, double mean, double std) {
    T *base = ol_tensor_data(t);
    int64_t idx[OL_MAXDIM] = {0}, off = 0;
    for (int64_t e = 0, n = ol_tensor_numel(t); e < n; e++) {
        base[off] = (T)(mean + std * ol_rng_normal());
        off = next_offset(t, idx, off);
    }
}
