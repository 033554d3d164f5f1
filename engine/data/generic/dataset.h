/* The batch copy of dataset.c, written once for T (core/generic.h). */

/* Rows idx[0 .. n) of ds into x (n x d, T) and their class ids (0-based,
 * -1 unlabelled) into ids unless it is NULL. The copy is the hot path of
 * an epoch, so the byte case without standardisation (the common image
 * case) is a single multiply per value straight into T. */
static void S(gather_rows)(const ol_dataset *ds, const int64_t *idx, int64_t n, T *x,
                           int32_t *ids) {
    const ol_ds_store *st = ds->st;
    const int64_t d = ds->d;
    for (int64_t k = 0; k < PREFETCH_AHEAD && k < n; k++) prefetch_row(ds, idx, k, n);
    for (int64_t k = 0; k < n; k++) {
        const int64_t r = ol_dataset_row(ds, idx[k]);
        prefetch_row(ds, idx, k + PREFETCH_AHEAD, n);
        T *o = x + k * d;
        if (st->kind == OL_DS_U8) {
            const uint8_t *p = (const uint8_t *)st->x + r * d;
            const T sc = (T)st->scale;
            if (ds->mean) {
                for (int64_t j = 0; j < d; j++)
                    o[j] = (T)((p[j] * st->scale - ds->mean[j]) / ds->std[j]);
            } else {
                for (int64_t j = 0; j < d; j++) o[j] = (T)p[j] * sc;
            }
        } else if (st->kind == OL_DS_F32) {
            const float *p = (const float *)st->x + r * d;
            if (ds->mean) {
                for (int64_t j = 0; j < d; j++) o[j] = (T)((p[j] - ds->mean[j]) / ds->std[j]);
            } else {
                for (int64_t j = 0; j < d; j++) o[j] = (T)p[j];
            }
        } else {
            const double *p = (const double *)st->x + r * d;
            if (ds->mean) {
                for (int64_t j = 0; j < d; j++) o[j] = (T)((p[j] - ds->mean[j]) / ds->std[j]);
            } else {
                for (int64_t j = 0; j < d; j++) o[j] = (T)p[j];
            }
        }
        if (ids) ids[k] = st->y ? st->y[r] - 1 : -1;
    }
}
