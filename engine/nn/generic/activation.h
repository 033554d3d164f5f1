/* The activations' forward and backward passes, written once for T
 * (core/generic.h; exp, tanh and erf take T's precision from <tgmath.h>).
 *
 * Derivatives (u: pre-activation, y = f(u)):
 *   relu' = [u > 0]; leaky_relu' = 1 if u > 0 else slope;
 *   tanh' = 1 - y^2; sigmoid' = y (1 - y);
 *   gelu (exact) y = u Phi(u), gelu' = Phi(u) + u phi(u),
 *   Phi(u) = (1 + erf(u / sqrt 2)) / 2, phi(u) = exp(-u^2 / 2) / sqrt(2 pi);
 *   silu y = u s, s = sigmoid(u): silu' = s (1 + u (1 - s));
 *   elu (alpha 1) y = u if u > 0 else exp(u) - 1: elu' = 1 if u > 0 else exp(u);
 *   softplus (beta 1, threshold 20, as torch) y = u if u > 20 else
 *     log(1 + exp(u)): softplus' = 1 if u > 20 else s.
 * Second derivatives (the curvature products' R-backward, rop.c):
 *   identity'' = relu'' = leaky_relu'' = 0 (piecewise linear; at the kink
 *   the one-sided value, as f' takes);
 *   tanh'' = -2 y (1 - y^2); sigmoid'' = y (1 - y) (1 - 2 y);
 *   gelu'' = phi(u) (2 - u^2) (phi' = -u phi);
 *   silu'' = s (1 - s) (2 + u (1 - 2 s)), 1 - 2 s taken as (1 - s) - s;
 *   elu'' = 0 if u > 0 else exp(u);
 *   softplus'' = 0 if u > 20 else s (1 - s) (the function as computed: the
 *   identity above the threshold, as torch's forward and backward take it).
 * The sigmoid is evaluated on the side where exp cannot overflow; elu takes
 * expm1 and exp of u <= 0 and softplus log1p of exp(u <= 20), so none of
 * them overflows or loses the small values of large negative u. */

static inline T S(sigmoid)(T u) {
    if (u >= 0) return (T)1 / ((T)1 + exp(-u));
    T e = exp(u);
    return e / ((T)1 + e);
}

/* s = sigmoid(u) and sm = 1 - s = sigmoid(-u), each from e = exp(-|u|)
 * without a difference, so that both keep their relative precision at
 * large |u| (the second derivatives of silu and softplus take s sm). */
static inline void S(sigmoid2)(T u, T *s, T *sm) {
    const T e = exp(-fabs(u)), inv = (T)1 / ((T)1 + e);
    *s = u >= 0 ? inv : e * inv;
    *sm = u >= 0 ? e * inv : inv;
}

/* u = pre + bias at column j, or pre alone when bias is NULL. The row
 * loops below are inlined twice, with bias NULL and not, so that no loop
 * tests bias per element and each vectorises. */
OL_INLINE T S(pre_bias)(const T *p, const T *bias, int64_t j) {
    return bias ? p[j] + bias[j] : p[j];
}

/* o = f(p + bias) over one row of w. */
OL_INLINE void S(act_row)(ol_act a, T sl, int64_t w, const T *restrict p, const T *restrict bias,
                          T *restrict o) {
    const T rs2 = (T)0.70710678118654752440;
    switch (a) {
    case OL_ACT_IDENTITY:
        for (int64_t j = 0; j < w; j++) o[j] = S(pre_bias)(p, bias, j);
        break;
    case OL_ACT_RELU:
        for (int64_t j = 0; j < w; j++) { T u = S(pre_bias)(p, bias, j); o[j] = u > 0 ? u : 0; }
        break;
    case OL_ACT_LEAKY_RELU:
        for (int64_t j = 0; j < w; j++) {
            T u = S(pre_bias)(p, bias, j);
            o[j] = u > 0 ? u : sl * u;
        }
        break;
    case OL_ACT_TANH:
        for (int64_t j = 0; j < w; j++) o[j] = tanh(S(pre_bias)(p, bias, j));
        break;
    case OL_ACT_SIGMOID:
        for (int64_t j = 0; j < w; j++) o[j] = S(sigmoid)(S(pre_bias)(p, bias, j));
        break;
    case OL_ACT_GELU:
        for (int64_t j = 0; j < w; j++) {
            T u = S(pre_bias)(p, bias, j);
            o[j] = (T)0.5 * u * ((T)1 + erf(u * rs2));
        }
        break;
    case OL_ACT_SILU:
        for (int64_t j = 0; j < w; j++) {
            T u = S(pre_bias)(p, bias, j);
            o[j] = u * S(sigmoid)(u);
        }
        break;
    case OL_ACT_ELU:
        for (int64_t j = 0; j < w; j++) {
            T u = S(pre_bias)(p, bias, j);
            o[j] = u > 0 ? u : expm1(u);
        }
        break;
    case OL_ACT_SOFTPLUS:
        for (int64_t j = 0; j < w; j++) {
            T u = S(pre_bias)(p, bias, j);
            o[j] = u > SOFTPLUS_THRESHOLD ? u : log1p(exp(u));
        }
        break;
    }
}

void S(ol_act_forward)(ol_act a, double slope, int64_t n, int64_t w, const T *pre, const T *bias,
                       T *y) {
    S(ol_act_forward_ld)(a, slope, n, w, w, pre, bias, y);
}

void S(ol_act_forward_ld)(ol_act a, double slope, int64_t n, int64_t w, int64_t ld, const T *pre,
                          const T *bias, T *y) {
    const T sl = (T)slope;
    for (int64_t r = 0; r < n; r++) {
        if (bias) S(act_row)(a, sl, w, pre + r * ld, bias, y + r * ld);
        else S(act_row)(a, sl, w, pre + r * ld, NULL, y + r * ld);
    }
}

/* d = g * f'(u) over one row of w, u = p + bias, yo = f(u). */
OL_INLINE void S(act_grad_row)(ol_act a, T sl, int64_t w, const T *restrict p,
                               const T *restrict bias, const T *restrict yo, const T *restrict g,
                               T *restrict d) {
    const T rs2 = (T)0.70710678118654752440;
    const T rs2pi = (T)0.39894228040143267794; /* 1 / sqrt(2 pi) */
    switch (a) {
    case OL_ACT_IDENTITY:
        for (int64_t j = 0; j < w; j++) d[j] = g[j];
        break;
    case OL_ACT_RELU:
        /* y > 0 exactly when u > 0: reading y saves the bias add. */
        for (int64_t j = 0; j < w; j++) d[j] = yo[j] > 0 ? g[j] : 0;
        break;
    case OL_ACT_LEAKY_RELU:
        for (int64_t j = 0; j < w; j++) d[j] = S(pre_bias)(p, bias, j) > 0 ? g[j] : sl * g[j];
        break;
    case OL_ACT_TANH:
        for (int64_t j = 0; j < w; j++) d[j] = g[j] * ((T)1 - yo[j] * yo[j]);
        break;
    case OL_ACT_SIGMOID:
        for (int64_t j = 0; j < w; j++) d[j] = g[j] * yo[j] * ((T)1 - yo[j]);
        break;
    case OL_ACT_GELU:
        for (int64_t j = 0; j < w; j++) {
            T u = S(pre_bias)(p, bias, j);
            T cdf = (T)0.5 * ((T)1 + erf(u * rs2));
            d[j] = g[j] * (cdf + u * rs2pi * exp((T)-0.5 * u * u));
        }
        break;
    case OL_ACT_SILU:
        for (int64_t j = 0; j < w; j++) {
            T u = S(pre_bias)(p, bias, j), s, sm;
            S(sigmoid2)(u, &s, &sm);
            d[j] = g[j] * (s * ((T)1 + u * sm));
        }
        break;
    case OL_ACT_ELU:
        for (int64_t j = 0; j < w; j++) {
            T u = S(pre_bias)(p, bias, j);
            d[j] = u > 0 ? g[j] : g[j] * exp(u);
        }
        break;
    case OL_ACT_SOFTPLUS:
        for (int64_t j = 0; j < w; j++) {
            T u = S(pre_bias)(p, bias, j);
            d[j] = u > SOFTPLUS_THRESHOLD ? g[j] : g[j] * S(sigmoid)(u);
        }
        break;
    }
}

void S(ol_act_backward)(ol_act a, double slope, int64_t n, int64_t w, const T *pre, const T *bias,
                        const T *y, const T *dy, T *dx, T *db, int accumulate) {
    S(ol_act_backward_ld)(a, slope, n, w, w, pre, bias, y, dy, dx, db, accumulate);
}

void S(ol_act_backward_ld)(ol_act a, double slope, int64_t n, int64_t w, int64_t ld,
                           const T *pre, const T *bias, const T *y, const T *dy, T *dx,
                           T *restrict db, int accumulate) {
    const T sl = (T)slope;
    if (db && !accumulate)
        for (int64_t j = 0; j < w; j++) db[j] = 0;
    for (int64_t r = 0; r < n; r++) {
        const int64_t o = r * ld;
        const T *restrict d = dx + o;
        if (bias) S(act_grad_row)(a, sl, w, pre + o, bias, y + o, dy + o, dx + o);
        else S(act_grad_row)(a, sl, w, pre + o, NULL, y + o, dy + o, dx + o);
        if (db)
            for (int64_t j = 0; j < w; j++) db[j] += d[j];
    }
}

void S(ol_act_backward2)(ol_act a, double slope, int64_t n, int64_t w, const T *pre,
                         const T *bias, const T *y, const T *dy, const T *ru, T *dx) {
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
                T u = S(pre_bias)(p, bias, j);
                d[j] += g[j] * (rs2pi * exp((T)-0.5 * u * u) * ((T)2 - u * u)) * q[j];
            }
            break;
        case OL_ACT_SILU:
            for (int64_t j = 0; j < w; j++) {
                T u = S(pre_bias)(p, bias, j), s, sm;
                S(sigmoid2)(u, &s, &sm);
                d[j] += g[j] * (s * sm * ((T)2 + u * (sm - s))) * q[j];
            }
            break;
        case OL_ACT_ELU:
            for (int64_t j = 0; j < w; j++) {
                T u = S(pre_bias)(p, bias, j);
                if (!(u > 0)) d[j] += g[j] * exp(u) * q[j];
            }
            break;
        case OL_ACT_SOFTPLUS:
            for (int64_t j = 0; j < w; j++) {
                T u = S(pre_bias)(p, bias, j);
                if (!(u > SOFTPLUS_THRESHOLD)) {
                    T s, sm;
                    S(sigmoid2)(u, &s, &sm);
                    d[j] += g[j] * (s * sm) * q[j];
                }
            }
            break;
        }
    }
}
