/* The losses, written once for T (core/generic.h). Each computes the loss
 * and its gradient with respect to the output y (n x c) in the same pass;
 * sums are accumulated in double.
 *
 * cross_entropy, row r, logits y, lse = m + log sum_j exp(y_j - m) with
 *   m = max_j y_j (so no exp overflows):
 *   class id k:   l = lse - y_k,                dy_j = (p_j - [j = k]) / n
 *   dense t:      l = sum_j t_j (lse - y_j),    dy_j = (p_j sum t - t_j) / n
 *   p = softmax(y); loss = mean over rows (torch's reduction='mean').
 * mse: loss = mean over all n c elements of (y - t)^2, dy = 2 (y - t) / (n c).
 * bce with logits: l = max(y, 0) - y t + log(1 + exp(-|y|)) (never
 *   overflows; torch's BCEWithLogitsLoss), dy = (sigmoid(y) - t) / (n c).
 * The sum over rows is taken in groups of OL_GROUP_ROWS rows (kernels.h).
 *
 * Hessians with respect to y (ol_loss_hv, for the curvature products):
 *   cross_entropy, row r: s_t (diag p - p p^T) / n, s_t = sum_j t_j (1 with
 *     a class id), so (H v)_j = s_t p_j (v_j - p.v) / n; rows apart;
 *   mse: 2 I / (n c);  bce: diag sigmoid(y) (1 - sigmoid(y)) / (n c). */

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

/* The sum over rows [r0, r1) of the loss terms (not yet divided by the
 * count the mean takes), and dy of those rows; n is the whole batch. */
static double S(loss_rows)(ol_loss_kind k, int64_t n, int64_t c, const T *y, const int32_t *ids,
                           const T *t, T *dy, int64_t r0, int64_t r1) {
    double total = 0;
    if (k == OL_LOSS_CROSS_ENTROPY) {
        const T inv_n = (T)(1.0 / (double)n);
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
    const T inv = (T)(1.0 / (double)(n * c));
    const int64_t i0 = r0 * c, i1 = r1 * c;
    if (k == OL_LOSS_MSE) {
        for (int64_t i = i0; i < i1; i++) {
            T d = y[i] - t[i];
            total += (double)d * (double)d;
            dy[i] = 2 * d * inv;
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

/* The loss's mean from the sum of its terms. */
static double S(loss_mean)(ol_loss_kind k, int64_t n, int64_t c, double sum) {
    return sum / (double)(k == OL_LOSS_CROSS_ENTROPY ? n : n * c);
}

/* Sums the terms group by group (OL_GROUP_ROWS rows each), then the
 * groups in order: the order ol_loss_cut keeps on any number of threads. */
double S(ol_loss)(ol_loss_kind k, int64_t n, int64_t c, const T *y,
                  const int32_t *ids, const T *t, T *dy) {
    double total = 0;
    for (int64_t r = 0; r < n; r += OL_GROUP_ROWS) {
        const int64_t e = r + OL_GROUP_ROWS < n ? r + OL_GROUP_ROWS : n;
        total += S(loss_rows)(k, n, c, y, ids, t, dy, r, e);
    }
    return S(loss_mean)(k, n, c, total);
}

typedef struct S(loss_job) {
    ol_loss_kind k;
    int64_t n, c;
    const T *y, *t;
    const int32_t *ids;
    T *dy;
    double *groups;
} S(loss_job);

/* Groups [lo, hi) / OL_GROUP_ROWS (lo starts a group: the grain). */
static void S(loss_part)(void *ctx, int64_t lo, int64_t hi, int part) {
    (void)part;
    const S(loss_job) *j = ctx;
    for (int64_t r = lo; r < hi; r += OL_GROUP_ROWS) {
        const int64_t e = r + OL_GROUP_ROWS < hi ? r + OL_GROUP_ROWS : hi;
        j->groups[r / OL_GROUP_ROWS] =
            S(loss_rows)(j->k, j->n, j->c, j->y, j->ids, j->t, j->dy, r, e);
    }
}

double S(ol_loss_cut)(ol_loss_kind k, int64_t n, int64_t c, const T *y,
                      const int32_t *ids, const T *t, T *dy, double *groups) {
    S(loss_job) j = {k, n, c, y, t, ids, dy, groups};
    ol_parallel_for(n, OL_GROUP_ROWS, LOSS_MIN_ROWS, S(loss_part), &j);
    const int64_t ngroups = (n + OL_GROUP_ROWS - 1) / OL_GROUP_ROWS;
    double total = 0;
    for (int64_t g = 0; g < ngroups; g++) total += groups[g];
    return S(loss_mean)(k, n, c, total);
}

void S(ol_loss_hv)(ol_loss_kind k, int64_t n, int64_t c, const T *y, const int32_t *ids,
                   const T *t, const T *v, T *hv) {
    if (k == OL_LOSS_CROSS_ENTROPY) {
        for (int64_t r = 0; r < n; r++) {
            const T *yr = y + r * c, *vr = v + r * c;
            T *hr = hv + r * c;
            T m;
            const double s = S(shifted_exp)(c, yr, hr, &m); /* hr: p s for now */
            double st = 1, pv = 0;
            if (!ids) {
                st = 0;
                for (int64_t j = 0; j < c; j++) st += t[r * c + j];
            }
            for (int64_t j = 0; j < c; j++) pv += (double)hr[j] * (double)vr[j];
            const T pvt = (T)(pv / s), sc = (T)(st / (s * (double)n));
            for (int64_t j = 0; j < c; j++) hr[j] = sc * hr[j] * (vr[j] - pvt);
        }
        return;
    }
    const T inv = (T)(1.0 / (double)(n * c));
    if (k == OL_LOSS_MSE) {
        for (int64_t i = 0; i < n * c; i++) hv[i] = 2 * v[i] * inv;
    } else { /* OL_LOSS_BCE */
        for (int64_t i = 0; i < n * c; i++) {
            const T sig = S(logistic)(y[i], exp(-fabs(y[i])));
            hv[i] = sig * ((T)1 - sig) * v[i] * inv;
        }
    }
}
