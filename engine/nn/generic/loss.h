/* The losses, written once for T (core/generic.h). Each computes the loss
 * and its gradient with respect to the output y (n x c) in the same pass;
 * sums are accumulated in double.
 *
 * cross_entropy, row r, logits y, lse = m + log sum_j exp(y_j - m) with
 *   m = max_j y_j (so no exp overflows):
 *   class id k:   l = lse - y_k,                dy_j = (p_j - [j = k]) / n
 *   dense t:      l = sum_j t_j (lse - y_j),    dy_j = (p_j sum t - t_j) / n
 *   p = softmax(y); loss = mean over rows (torch's reduction='mean').
 * With options (torch's CrossEntropyLoss, aten LossNLL.cpp
 *   cross_entropy_loss_label_smoothing and cross_entropy_loss_prob_target),
 *   smoothing eps and class weights w (w_j = 1 without), each row is
 *   sum_j q_j (lse - y_j) for a row of weights q:
 *   class id k:   q_j = (1 - eps) w_k [j = k] + (eps / c) w_j, and the mean
 *                 divides by D = sum over rows of w_k (n without weights):
 *                 (1 - eps) times the weighted mean of the NLL plus eps / c
 *                 times the rows' sum_j w_j (-log p_j) over the same D;
 *   dense t:      q_j = w_j ((1 - eps) t_j + eps / c), D = n;
 *   dy_j = (p_j sum q - q_j) / D. A batch whose D is 0 (every row of a
 *   class of weight 0) has loss 0/0 = NaN, as torch gives.
 * mse: loss = mean over all n c elements of (y - t)^2, dy = 2 (y - t) / (n c).
 * huber (delta d, torch.nn.HuberLoss), x = y - t: l = x^2 / 2 if |x| < d
 *   else d (|x| - d / 2), mean over all n c elements; dy = x / (n c) if
 *   |x| < d else d sign(x) / (n c).
 * bce with logits: l = max(y, 0) - y t + log(1 + exp(-|y|)) (never
 *   overflows; torch's BCEWithLogitsLoss), dy = (sigmoid(y) - t) / (n c).
 * The sum over rows is taken in groups of OL_GROUP_ROWS rows (kernels.h).
 *
 * Hessians with respect to y (ol_loss_hv, for the curvature products):
 *   cross_entropy, row r: s_q (diag p - p p^T) / D, s_q = sum_j q_j (1 with
 *     a class id and no options), so (H v)_j = s_q p_j (v_j - p.v) / D;
 *     rows apart;
 *   mse: 2 I / (n c);  bce: diag sigmoid(y) (1 - sigmoid(y)) / (n c);
 *   huber: diag [|y - t| < d] / (n c) (0 on the linear pieces, whose
 *     one-sided value the gradient takes at |x| = d). */

/* e_j = exp(y_j - m) for one row, m = max_j y_j (so no exp overflows);
 * returns sum_j e_j, and m in *mx. */
static double S(shifted_exp)(int64_t c, const T *yr, T *e, T *mx) {
    T m = yr[0];
    for (int64_t j = 1; j < c; j++) m = yr[j] > m ? yr[j] : m;
    double s = 0;
    for (int64_t j = 0; j < c; j++) {
        e[j] = exp(yr[j] - m);
        s += e[j];
    }
    *mx = m;
    return s;
}

/* sigmoid(u) from e = exp(-|u|), on the side where nothing overflows. */
static inline T S(logistic)(T u, T e) {
    return u >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);
}

/* The count the mean divides by: D above for cross_entropy (the sum of
 * the rows' class weights, or n), n c for the others. */
static double S(loss_count)(const ol_loss_spec *L, int64_t n, int64_t c, const int32_t *ids) {
    if (L->kind != OL_LOSS_CROSS_ENTROPY) return (double)(n * c);
    if (!ids || !L->weight) return (double)n;
    double d = 0;
    for (int64_t r = 0; r < n; r++) d += L->weight[ids[r]];
    return d;
}

/* Cross-entropy rows [r0, r1) with smoothing or weights (the q form above);
 * sw = sum_j w_j. */
static double S(ce_rows_options)(const ol_loss_spec *L, int64_t c, const T *y, const int32_t *ids,
                                 const T *t, T *dy, int64_t r0, int64_t r1, double inv_d,
                                 double sw) {
    const double eps = L->label_smoothing, b = eps / (double)c;
    const double *w = L->weight;
    double total = 0;
    for (int64_t r = r0; r < r1; r++) {
        const T *yr = y + r * c;
        T *dr = dy + r * c;
        T m;
        const double s = S(shifted_exp)(c, yr, dr, &m);
        const double lse = (double)m + log(s), inv_s = 1.0 / s;
        double sq = 0, sqy = 0;
        if (ids) {
            const int32_t k = ids[r];
            const double a = (1 - eps) * (w ? w[k] : 1);
            double swy = 0;
            for (int64_t j = 0; j < c; j++) swy += (w ? w[j] : 1) * (double)yr[j];
            sq = a + b * sw;
            sqy = a * (double)yr[k] + b * swy;
            for (int64_t j = 0; j < c; j++)
                dr[j] = (T)(((double)dr[j] * inv_s * sq - b * (w ? w[j] : 1)) * inv_d);
            dr[k] = (T)((double)dr[k] - a * inv_d);
        } else {
            const T *tr = t + r * c;
            for (int64_t j = 0; j < c; j++) {
                const double q = (w ? w[j] : 1) * ((1 - eps) * (double)tr[j] + b);
                sq += q;
                sqy += q * (double)yr[j];
            }
            for (int64_t j = 0; j < c; j++) {
                const double q = (w ? w[j] : 1) * ((1 - eps) * (double)tr[j] + b);
                dr[j] = (T)(((double)dr[j] * inv_s * sq - q) * inv_d);
            }
        }
        total += lse * sq - sqy;
    }
    return total;
}

/* The sum over rows [r0, r1) of the loss terms (not yet divided by the
 * count the mean takes, 1 / inv_d), and dy of those rows. */
static double S(loss_rows)(const ol_loss_spec *L, int64_t n, int64_t c, const T *y,
                           const int32_t *ids, const T *t, T *dy, int64_t r0, int64_t r1,
                           double inv_d) {
    (void)n;
    double total = 0;
    const ol_loss_kind k = L->kind;
    if (k == OL_LOSS_CROSS_ENTROPY) {
        if (L->label_smoothing != 0 || L->weight) {
            double sw = (double)c;
            if (L->weight) {
                sw = 0;
                for (int64_t j = 0; j < c; j++) sw += L->weight[j];
            }
            return S(ce_rows_options)(L, c, y, ids, t, dy, r0, r1, inv_d, sw);
        }
        const T inv_n = (T)inv_d;
        for (int64_t r = r0; r < r1; r++) {
            const T *yr = y + r * c;
            T *dr = dy + r * c;
            T m;
            const double s = S(shifted_exp)(c, yr, dr, &m);
            double lse = (double)m + log(s);
            T inv_s = (T)(1.0 / s);
            if (ids) {
                int32_t id = ids[r];
                total += lse - (double)yr[id];
                for (int64_t j = 0; j < c; j++) dr[j] = dr[j] * inv_s * inv_n;
                dr[id] -= inv_n;
            } else {
                const T *tr = t + r * c;
                double st = 0, sty = 0;
                for (int64_t j = 0; j < c; j++) {
                    st += tr[j];
                    sty += (double)tr[j] * (double)yr[j];
                }
                total += lse * st - sty;
                T sc = (T)st * inv_s;
                for (int64_t j = 0; j < c; j++) dr[j] = (dr[j] * sc - tr[j]) * inv_n;
            }
        }
        return total;
    }
    const T inv = (T)inv_d;
    const int64_t i0 = r0 * c, i1 = r1 * c;
    if (k == OL_LOSS_MSE) {
        for (int64_t i = i0; i < i1; i++) {
            T d = y[i] - t[i];
            total += (double)d * (double)d;
            dy[i] = 2 * d * inv;
        }
    } else if (k == OL_LOSS_HUBER) {
        const T dl = (T)L->delta;
        for (int64_t i = i0; i < i1; i++) {
            T d = y[i] - t[i], ad = fabs(d);
            if (ad < dl) {
                total += 0.5 * (double)d * (double)d;
                dy[i] = d * inv;
            } else {
                total += (double)dl * ((double)ad - 0.5 * (double)dl);
                dy[i] = (d > 0 ? dl : -dl) * inv;
            }
        }
    } else { /* OL_LOSS_BCE */
        for (int64_t i = i0; i < i1; i++) {
            T u = y[i];
            T e = exp(-fabs(u)); /* in (0, 1] */
            T sig = S(logistic)(u, e);
            total += (double)(u > 0 ? u : 0) - (double)u * (double)t[i] + log1p((double)e);
            dy[i] = (sig - t[i]) * inv;
        }
    }
    return total;
}

/* Sums the terms group by group (OL_GROUP_ROWS rows each), then the
 * groups in order: the order ol_loss_cut keeps on any number of threads. */
double S(ol_loss)(const ol_loss_spec *L, int64_t n, int64_t c, const T *y,
                  const int32_t *ids, const T *t, T *dy) {
    const double d = S(loss_count)(L, n, c, ids), inv_d = 1.0 / d;
    double total = 0;
    for (int64_t r = 0; r < n; r += OL_GROUP_ROWS) {
        const int64_t e = r + OL_GROUP_ROWS < n ? r + OL_GROUP_ROWS : n;
        total += S(loss_rows)(L, n, c, y, ids, t, dy, r, e, inv_d);
    }
    return total / d;
}

typedef struct S(loss_job) {
    const ol_loss_spec *L;
    int64_t n, c;
    const T *y, *t;
    const int32_t *ids;
    T *dy;
    double *groups;
    double inv_d;
} S(loss_job);

/* Groups [lo, hi) / OL_GROUP_ROWS (lo starts a group: the grain). */
static void S(loss_part)(void *ctx, int64_t lo, int64_t hi, int part) {
    (void)part;
    const S(loss_job) *j = ctx;
    for (int64_t r = lo; r < hi; r += OL_GROUP_ROWS) {
        const int64_t e = r + OL_GROUP_ROWS < hi ? r + OL_GROUP_ROWS : hi;
        j->groups[r / OL_GROUP_ROWS] =
            S(loss_rows)(j->L, j->n, j->c, j->y, j->ids, j->t, j->dy, r, e, j->inv_d);
    }
}

double S(ol_loss_cut)(const ol_loss_spec *L, int64_t n, int64_t c, const T *y,
                      const int32_t *ids, const T *t, T *dy, double *groups) {
    const double d = S(loss_count)(L, n, c, ids);
    S(loss_job) j = {L, n, c, y, t, ids, dy, groups, 1.0 / d};
    ol_parallel_for(n, OL_GROUP_ROWS, LOSS_MIN_ROWS, S(loss_part), &j);
    const int64_t ngroups = (n + OL_GROUP_ROWS - 1) / OL_GROUP_ROWS;
    double total = 0;
    for (int64_t g = 0; g < ngroups; g++) total += groups[g];
    return total / d;
}

void S(ol_loss_hv)(const ol_loss_spec *L, int64_t n, int64_t c, const T *y, const int32_t *ids,
                   const T *t, const T *v, T *hv) {
    const ol_loss_kind k = L->kind;
    const double d = S(loss_count)(L, n, c, ids);
    if (k == OL_LOSS_CROSS_ENTROPY) {
        const double eps = L->label_smoothing, b = eps / (double)c, *w = L->weight;
        double sw = (double)c;
        if (w) {
            sw = 0;
            for (int64_t j = 0; j < c; j++) sw += w[j];
        }
        for (int64_t r = 0; r < n; r++) {
            const T *yr = y + r * c, *vr = v + r * c;
            T *hr = hv + r * c;
            T m;
            const double s = S(shifted_exp)(c, yr, hr, &m); /* hr: p s for now */
            double sq = 0, pv = 0; /* s_q of the row */
            if (ids) {
                sq = (1 - eps) * (w ? w[ids[r]] : 1) + b * sw;
            } else {
                for (int64_t j = 0; j < c; j++)
                    sq += (w ? w[j] : 1) * ((1 - eps) * (double)t[r * c + j] + b);
            }
            for (int64_t j = 0; j < c; j++) pv += (double)hr[j] * (double)vr[j];
            const T pvt = (T)(pv / s), sc = (T)(sq / (s * d));
            for (int64_t j = 0; j < c; j++) hr[j] = sc * hr[j] * (vr[j] - pvt);
        }
        return;
    }
    const T inv = (T)(1.0 / d);
    if (k == OL_LOSS_MSE) {
        for (int64_t i = 0; i < n * c; i++) hv[i] = 2 * v[i] * inv;
    } else if (k == OL_LOSS_HUBER) {
        const T dl = (T)L->delta;
        for (int64_t i = 0; i < n * c; i++) hv[i] = fabs(y[i] - t[i]) < dl ? v[i] * inv : 0;
    } else { /* OL_LOSS_BCE */
        for (int64_t i = 0; i < n * c; i++) {
            const T sig = S(logistic)(y[i], exp(-fabs(y[i])));
            hv[i] = sig * ((T)1 - sig) * v[i] * inv;
        }
    }
}
