/* The model's steps that take its element type (model.c), written once
 * for T (core/generic.h). */

/* Largest |v[i]| over n values, or INFINITY when one is not finite
 * (NaN compares false, so it is looked for on its own). */
static double S(max_abs)(const T *v, int64_t n) {
    double mx = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)v[i]);
        if (!(a <= DBL_MAX)) return INFINITY;
        if (a > mx) mx = a;
    }
    return mx;
}

/* The backward products of linear layer li whose input came out of the
 * activation li - 1 fused into linear layer li - 2 (linear_back): dx, the
 * gradient of that input, is carried through the activation part by part,
 * which writes the gradients of layer li - 2's output and bias. */
static void S(linear_back_act)(ol_model *m, int li, int acc, T *dx) {
    const layer *lin = &m->L[li], *act = &m->L[li - 1], *plin = &m->L[li - 2];
    const S(ol_act_grad) g = {act->spec.act, act->spec.slope, m->out[li - 2], P(m, plin->b_off),
                              m->out[li - 1], m->gout[li - 2], G(m, plin->b_off), acc,
                              m->row_groups};
    S(ol_linear_backward_act)(m->n, lin->spec.in, lin->spec.out, input_of(m, li),
                              P(m, lin->w_off), m->gout[li], dx, G(m, lin->w_off), acc, &g);
}

/* The parameters [first, nparams) at k0 v0 + k1 v1 + k2 v2, summed in
 * double left to right and rounded once (ol_model_span_forward). */
static void S(span_params)(ol_model *m, int64_t first, const void *const v[3], const double k[3]) {
    T *p = m->params->data;
    const T *v0 = v[0], *v1 = v[1], *v2 = v[2];
    for (int64_t j = first; j < m->nparams; j++) {
        double s = k[0] * (double)v0[j];
        if (v1) s += k[1] * (double)v1[j];
        if (v2) s += k[2] * (double)v2[j];
        p[j] = (T)s;
    }
}

/* The first layer's output rows [lo, hi) from the products: z = k0 q0 +
 * k1 q1 + k2 q2 (the terms of NULL vectors left out), then, when an
 * activation is fused, y = f(z + b) on the same rows while they are in
 * cache. */
typedef struct S(span_job) {
    const T *q[3];
    T k[3];
    int64_t width;
    T *z, *y;
    const T *bias;
    ol_act act;
    double slope;
} S(span_job);

/* z[e] = k0 q0[e] + k1 q1[e] + k2 q2[e] for e in [lo, hi), a NULL q's
 * term left out (called with constant NULLs: one loop per case). */
OL_INLINE void S(span_combine)(int64_t lo, int64_t hi, const T *restrict q0, const T *restrict q1,
                               const T *restrict q2, const T *k, T *restrict z) {
    const T k0 = k[0], k1 = k[1], k2 = k[2];
    for (int64_t e = lo; e < hi; e++) {
        T s = k0 * q0[e];
        if (q1) s += k1 * q1[e];
        if (q2) s += k2 * q2[e];
        z[e] = s;
    }
}

static void S(span_part)(void *ctx, int64_t lo, int64_t hi, int part) {
    (void)part;
    const S(span_job) *j = ctx;
    const int64_t w = j->width;
    const T *q0 = j->q[0], *q1 = j->q[1], *q2 = j->q[2];
    T *z = j->z;
    if (q1 && q2) S(span_combine)(lo * w, hi * w, q0, q1, q2, j->k, z);
    else if (q1) S(span_combine)(lo * w, hi * w, q0, q1, NULL, j->k, z);
    else if (q2) S(span_combine)(lo * w, hi * w, q0, NULL, q2, j->k, z);
    else S(span_combine)(lo * w, hi * w, q0, NULL, NULL, j->k, z);
    if (j->y)
        S(ol_act_forward_ld)(j->act, j->slope, hi - lo, w, w, z + lo * w, j->bias, j->y + lo * w);
}

/* The first layer's output of ol_model_span_forward, as ol_model_forward
 * leaves it: z (without the bias) and f(z + b) when an activation is
 * fused, else z + b. The bias was set by span_params. */
static void S(span_first)(ol_model *m, const void *q, const void *const v[3], const double k[3]) {
    const layer *l = &m->L[0];
    const int64_t n = m->n, w = l->spec.out, size = n * w;
    const T *qs = q;
    S(span_job) j = {{qs, v[1] ? qs + size : NULL, v[2] ? qs + 2 * size : NULL},
                     {(T)k[0], (T)k[1], (T)k[2]}, w, m->out[0], l->fused ? m->out[1] : NULL,
                     P(m, l->b_off), l->fused ? m->L[1].spec.act : OL_ACT_IDENTITY,
                     l->fused ? m->L[1].spec.slope : 0};
    ol_parallel_for(n, 1, 64, S(span_part), &j);
    if (!l->fused) S(ol_bias_forward)(n, w, m->out[0], P(m, l->b_off));
}
