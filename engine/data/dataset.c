/* Datasets over shared, immutable feature storage; per-batch conversion to
 * f32/f64; subsets, the seeded train/validation split and per-feature
 * standardisation z = (x - mean) / std with mean and the population
 * standard deviation fitted on one dataset (two passes: the mean first,
 * then the squared deviations, which avoids the cancellation of the
 * one-pass E[x^2] - E[x]^2 formula). See dataset.h. */
#include "data/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "core/rng.h"

static void store_release(ol_ds_store *st) {
    if (!st || --st->refs > 0) return;
    free(st->x);
    free(st->y);
    free(st);
}

ol_dataset *ol_dataset_new(ol_ds_kind kind, int64_t n, int64_t d, void *x, double scale,
                           int32_t *y, int32_t classes, ol_error *err) {
    if (n < 0 || d < 0 || (n > 0 && !x && d > 0)) {
        free(x);
        free(y);
        ol_fail(err, "invalid dataset size %lldx%lld", (long long)n, (long long)d);
        return NULL;
    }
    if (y) {
        for (int64_t i = 0; i < n; i++) {
            if (y[i] < 1 || y[i] > classes) {
                ol_fail(err, "label %ld of sample %lld is out of range 1..%ld", (long)y[i],
                        (long long)i + 1, (long)classes);
                free(x);
                free(y);
                return NULL;
            }
        }
    }
    ol_ds_store *st = calloc(1, sizeof *st);
    ol_dataset *ds = calloc(1, sizeof *ds);
    if (!st || !ds) {
        free(st);
        free(ds);
        free(x);
        free(y);
        ol_fail(err, "out of memory");
        return NULL;
    }
    *st = (ol_ds_store){.refs = 1, .kind = kind, .n = n, .d = d, .x = x, .scale = scale, .y = y};
    *ds = (ol_dataset){.st = st, .n = n, .d = d, .classes = y ? classes : 0};
    return ds;
}

void ol_dataset_free(ol_dataset *ds) {
    if (!ds) return;
    store_release(ds->st);
    free(ds->rows);
    free(ds->mean);
    free(ds->std);
    free(ds);
}

/* One sample's features as doubles, scale and standardisation applied. */
static void read_row(const ol_dataset *ds, int64_t i, double *out) {
    const ol_ds_store *st = ds->st;
    int64_t r = ol_dataset_row(ds, i), d = ds->d;
    if (st->kind == OL_DS_U8) {
        const uint8_t *p = (const uint8_t *)st->x + r * d;
        for (int64_t j = 0; j < d; j++) out[j] = p[j] * st->scale;
    } else if (st->kind == OL_DS_F32) {
        const float *p = (const float *)st->x + r * d;
        for (int64_t j = 0; j < d; j++) out[j] = p[j];
    } else {
        memcpy(out, (const double *)st->x + r * d, (size_t)d * sizeof(double));
    }
}

/* Rows are read in shuffled order from a set larger than the caches, so
 * each row's first lines are memory latency that the hardware prefetcher
 * cannot guess, and most of a gather's time is spent waiting for the first
 * load of a row. The loader requests the next batch's rows while the step
 * computes on this one (ol_dataset_gather_ahead); within a gather the
 * row PREFETCH_AHEAD places ahead is requested while this one is converted,
 * which covers the first batch of an epoch and other callers. */
#define PREFETCH_AHEAD 8
static void prefetch_row(const ol_dataset *ds, const int64_t *idx, int64_t k, int64_t n) {
#if defined(__GNUC__)
    if (k >= n) return;
    const ol_ds_store *st = ds->st;
    size_t es = st->kind == OL_DS_U8 ? 1 : st->kind == OL_DS_F32 ? 4 : 8;
    size_t bytes = (size_t)ds->d * es;
    const char *p = (const char *)st->x + (size_t)ol_dataset_row(ds, idx[k]) * bytes;
    /* GCC deletes a loop whose only effect is __builtin_prefetch (it counts
     * as no effect at all); the empty volatile asm keeps each one. */
    for (size_t off = 0; off < bytes; off += 64) {
        __builtin_prefetch(p + off, 0, 3);
        __asm__ __volatile__("" : : "r"(p + off));
    }
#else
    (void)ds, (void)idx, (void)k, (void)n;
#endif
}

#define OL_GENERIC "data/generic/dataset.h"
#include "core/generic.h"

typedef struct gather_job {
    const ol_dataset *ds;
    const int64_t *idx;
    ol_dtype dt;
    void *x;
    int32_t *ids;
    const int64_t *next; /* the next batch's samples, to prefetch */
    int64_t n_all, n_next;
} gather_job;

/* Rows [lo, hi) of the batch. */
static void gather_part(void *ctx, int64_t lo, int64_t hi, int part) {
    (void)part;
    const gather_job *j = ctx;
    const ol_dataset *ds = j->ds;
    void *x = (char *)j->x + (size_t)(lo * ds->d) * ol_dtype_size(j->dt);
    OL_DT_CALL(j->dt, gather_rows, ds, j->idx + lo, hi - lo, x, j->ids ? j->ids + lo : NULL);
    /* this part's share of the next batch, in proportion */
    const int64_t a = lo * j->n_next / j->n_all, b = hi * j->n_next / j->n_all;
    for (int64_t k = a; k < b; k++) prefetch_row(ds, j->next, k, j->n_next);
}

/* A batch is cut into one block of rows per thread (core/parallel.h) from
 * 2 x GATHER_MIN_ROWS rows: the copy is a serial stretch of the training
 * step otherwise. */
#define GATHER_MIN_ROWS 32

void ol_dataset_gather(const ol_dataset *ds, const int64_t *idx, int64_t n, ol_dtype dt,
                       void *x, int32_t *ids) {
    ol_dataset_gather_ahead(ds, idx, n, dt, x, ids, NULL, 0);
}

/* The next batch's prefetch runs in the parts, each thread requesting its
 * share of it, rather than as a loop of its own on the calling thread
 * while the others wait. */
void ol_dataset_gather_ahead(const ol_dataset *ds, const int64_t *idx, int64_t n, ol_dtype dt,
                             void *x, int32_t *ids, const int64_t *next, int64_t n_next) {
    gather_job j = {ds, idx, dt, x, ids, next, n, next ? n_next : 0};
    ol_parallel_for(n, 1, GATHER_MIN_ROWS, gather_part, &j);
}

static int copy_standardization(ol_dataset *dst, const ol_dataset *src) {
    if (!src->mean) return 0;
    size_t nb = (size_t)src->d * sizeof(double);
    dst->mean = malloc(nb ? nb : 1);
    dst->std = malloc(nb ? nb : 1);
    if (!dst->mean || !dst->std) return -1;
    memcpy(dst->mean, src->mean, nb);
    memcpy(dst->std, src->std, nb);
    return 0;
}

ol_dataset *ol_dataset_subset(const ol_dataset *ds, const int64_t *idx, int64_t n, ol_error *err) {
    ol_dataset *s = calloc(1, sizeof *s);
    int64_t *rows = malloc((size_t)(n > 0 ? n : 1) * sizeof *rows);
    if (!s || !rows) goto oom;
    for (int64_t k = 0; k < n; k++) rows[k] = ol_dataset_row(ds, idx[k]);
    *s = (ol_dataset){.st = ds->st, .n = n, .d = ds->d, .rows = rows, .classes = ds->classes};
    ds->st->refs++;
    if (copy_standardization(s, ds) != 0) {
        ol_dataset_free(s);
        ol_fail(err, "out of memory");
        return NULL;
    }
    return s;
oom:
    free(s);
    free(rows);
    ol_fail(err, "out of memory");
    return NULL;
}

void ol_shuffle_i64(int64_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ol_rng_below((uint64_t)i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int ol_dataset_split(const ol_dataset *ds, double frac, ol_dataset **first, ol_dataset **second,
                     ol_error *err) {
    *first = *second = NULL;
    if (!(frac >= 0 && frac <= 1)) return ol_fail(err, "split fraction %g is not in [0, 1]", frac);
    int64_t n = ds->n;
    int64_t *perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *perm);
    if (!perm) return ol_fail(err, "out of memory");
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    ol_shuffle_i64(perm, n);
    int64_t k = (int64_t)llround(frac * (double)n);
    *first = ol_dataset_subset(ds, perm, k, err);
    *second = *first ? ol_dataset_subset(ds, perm + k, n - k, err) : NULL;
    free(perm);
    if (!*second) {
        ol_dataset_free(*first);
        *first = NULL;
        return -1;
    }
    return 0;
}

int ol_standardizer_fit(const ol_dataset *ds, ol_standardizer *out, ol_error *err) {
    int64_t d = ds->d, n = ds->n;
    memset(out, 0, sizeof *out);
    if (n < 1) return ol_fail(err, "cannot fit a standardisation on an empty dataset");
    size_t nb = (size_t)(d > 0 ? d : 1) * sizeof(double);
    double *mean = calloc(1, nb), *var = calloc(1, nb), *row = malloc(nb);
    if (!mean || !var || !row) {
        free(mean);
        free(var);
        free(row);
        return ol_fail(err, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        read_row(ds, i, row);
        for (int64_t j = 0; j < d; j++) mean[j] += row[j];
    }
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        read_row(ds, i, row);
        for (int64_t j = 0; j < d; j++) {
            double e = row[j] - mean[j];
            var[j] += e * e;
        }
    }
    for (int64_t j = 0; j < d; j++) {
        double s = sqrt(var[j] / (double)n);
        var[j] = s > 0 ? s : 1; /* constant feature: centre only */
    }
    free(row);
    *out = (ol_standardizer){.d = d, .mean = mean, .std = var};
    return 0;
}

void ol_standardizer_free(ol_standardizer *s) {
    if (!s) return;
    free(s->mean);
    free(s->std);
    memset(s, 0, sizeof *s);
}

int ol_dataset_standardize(ol_dataset *ds, const ol_standardizer *s, ol_error *err) {
    if (s->d != ds->d)
        return ol_fail(err, "standardisation fitted on %lld features, dataset has %lld",
                       (long long)s->d, (long long)ds->d);
    size_t nb = (size_t)(ds->d > 0 ? ds->d : 1) * sizeof(double);
    double *mean = malloc(nb), *std = malloc(nb);
    if (!mean || !std) {
        free(mean);
        free(std);
        return ol_fail(err, "out of memory");
    }
    memcpy(mean, s->mean, (size_t)ds->d * sizeof(double));
    memcpy(std, s->std, (size_t)ds->d * sizeof(double));
    free(ds->mean);
    free(ds->std);
    ds->mean = mean;
    ds->std = std;
    return 0;
}
