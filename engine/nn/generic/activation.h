/* Activations for one element type: included by activation.c with
 * T (element type) and S(name) (name##_f32 / name##_f64) defined, and
 * <tgmath.h> so that exp/tanh/erf take T's precision.
 *
 * Derivatives (u: pre-activation, y = f(u)):
 *   relu' = [u > 0]; leaky_relu' = 1 if u > 0 else slope;
 *   tanh' = 1 - y^2; sigmoid' = y (1 - y);
 *   gelu (exact) y = u Phi(u), gelu' = Phi(u) + u phi(u),
 *   Phi(u) = (1 + erf(u / sqrt 2)) / 2, phi(u) = exp(-u^2 / 2) / sqrt(2 pi).
 * Second derivatives (the curvature products' R-backward, rop.c):
 *   identity'' = relu'' = leaky_relu'' = 0 (piecewise linear; at the kink
 *   the one-sided value, as f' takes);
 *   tanh'' = -2 y (1 - y^2); sigmoid'' = y (1 - y) (1 - 2 y);
 *   gelu'' = phi(u) (2 - u^2) (phi' = -u phi).
 * The sigmoid is evaluated on the side where exp cannot overflow. */

static inline T S(sigmoid)(T u) {
    if (u >= 0) return (T)1 / ((T)1 + exp(-u));
    T e = exp(u);
    return e / ((T)1 + e);
}

void S(ol_act_forward)(ol_act a, double slope, int64_t n, int64_t w,
                       const T *restrict pre, const T *restrict bias, T *restrict y) {
    S(ol_act_forward_ld)(a, slope, n, w, w, pre, bias, y);
}

void S(ol_act_forward_ld)(ol_act a, double slope, int64_t n, int64_t w, int64_t ld,
                          const T *restrict pre, const T *restrict bias, T *restrict y) {
    const T sl = (T)slope;
    const T rs2 = (T)0.70710678118654752440;
    for (int64_t r = 0; r < n; r++) {
        const T *restrict p = pre + r * ld;
        T *restrict o = y + r * ld;
        /* Each case is its own loop so the compiler vectorises it. */
#define U(j) (bias ? p[j] + bias[j] : p[j])
        switch (a) {
        case OL_ACT_IDENTITY:
            for (int64_t j = 0; j < w; j++) o[j] = U(j);
            break;
        case OL_ACT_RELU:
            for (int64_t j = 0; j < w; j++) { T u = U(j); o[j] = u > 0 ? u : 0; }
            break;
        case OL_ACT_LEAKY_RELU:
            for (int64_t j = 0; j < w; j++) { T u = U(j); o[j] = u > 0 ? u : sl * u; }
            break;
        case OL_ACT_TANH:
            for (int64_t j = 0; j < w; j++) o[j] = tanh(U(j));
            break;
        case OL_ACT_SIGMOID:
            for (int64_t j = 0; j < w; j++) o[j] = S(sigmoid)(U(j));
            break;
        case OL_ACT_GELU:
            for (int64_t j = 0; j < w; j++) {
                T u = U(j);
                o[j] = (T)0.5 * u * ((T)1 + erf(u * rs2));
            }
            break;
        }
    }
}

void S(ol_act_backward)(ol_act a, double slope, int64_t n, int64_t w,
                        const T *restrict pre, const T *restrict bias, const T *restrict y,
                        const T *restrict dy, T *restrict dx, T *restrict db, int accumulate) {
    S(ol_act_backward_ld)(a, slope, n, w, w, pre, bias, y, dy, dx, db, accumulate);
}

void S(ol_act_backward_ld)(ol_act a, double slope, int64_t n, int64_t w, int64_t ld,
                           const T *restrict pre, const T *restrict bias, const T *restrict y,
                           const T *restrict dy, T *restrict dx, T *restrict db, int accumulate) {
    const T sl = (T)slope;
    const T rs2 = (T)0.70710678118654752440;
    const T rs2pi = (T)0.39894228040143267794; /* 1 / sqrt(2 pi) */
    if (db && !accumulate)
        for (int64_t j = 0; j < w; j++) db[j] = 0;
    for (int64_t r = 0; r < n; r++) {
        const T *restrict p = pre + r * ld, *restrict yo = y + r * ld, *restrict g = dy + r * ld;
        T *restrict d = dx + r * ld;
        switch (a) {
        case OL_ACT_IDENTITY:
            for (int64_t j = 0; j < w; j++) d[j] = g[j];
            break;
        case OL_ACT_RELU:
            /* y > 0 exactly when u > 0: reading y saves the bias add. */
            for (int64_t j = 0; j < w; j++) d[j] = yo[j] > 0 ? g[j] : 0;
            break;
        case OL_ACT_LEAKY_RELU:
            for (int64_t j = 0; j < w; j++) d[j] = U(j) > 0 ? g[j] : sl * g[j];
            break;
        case OL_ACT_TANH:
            for (int64_t j = 0; j < w; j++) d[j] = g[j] * ((T)1 - yo[j] * yo[j]);
            break;
        case OL_ACT_SIGMOID:
            for (int64_t j = 0; j < w; j++) d[j] = g[j] * yo[j] * ((T)1 - yo[j]);
            break;
        case OL_ACT_GELU:
            for (int64_t j = 0; j < w; j++) {
                T u = U(j);
                T cdf = (T)0.5 * ((T)1 + erf(u * rs2));
                d[j] = g[j] * (cdf + u * rs2pi * exp((T)-0.5 * u * u));
            }
            break;
        }
        if (db)
            for (int64_t j = 0; j < w; j++) db[j] += d[j];
    }
}

void S(ol_act_backward2)(ol_act a, double slope, int64_t n, int64_t w,
                         const T *restrict pre, const T *restrict bias, const T *restrict y,
                         const T *restrict dy, const T *restrict ru, T *restrict dx) {
    (void)slope; /* leaky_relu'' = 0 whatever the slope */
    const T rs2pi = (T)0.39894228040143267794; /* 1 / sqrt(2 pi) */
    for (int64_t r = 0; r < n; r++) {
        const T *restrict p = pre + r * w, *restrict yo = y + r * w, *restrict g = dy + r * w;
        const T *restrict q = ru + r * w;
        T *restrict d = dx + r * w;
        switch (a) {
        case OL_ACT_IDENTITY:
        case OL_ACT_RELU:
        case OL_ACT_LEAKY_RELU:
            break;
        case OL_ACT_TANH:
            for (int64_t j = 0; j < w; j++)
                d[j] += g[j] * ((T)-2 * yo[j] * ((T)1 - yo[j] * yo[j])) * q[j];
            break;
        case OL_ACT_SIGMOID:
            for (int64_t j = 0; j < w; j++)
                d[j] += g[j] * (yo[j] * ((T)1 - yo[j]) * ((T)1 - 2 * yo[j])) * q[j];
            break;
        case OL_ACT_GELU:
            for (int64_t j = 0; j < w; j++) {
                T u = U(j);
                d[j] += g[j] * (rs2pi * exp((T)-0.5 * u * u) * ((T)2 - u * u)) * q[j];
            }
            break;
        }
    }
}
#undef U
