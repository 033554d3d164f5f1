/* Datasets: N samples of D features with optional class labels, as the
 * readers (IDX, CSV, synthetic) produce them and the loader batches them.
 *
 * Storage. The features live in an ol_ds_store, shared by reference count
 * between a dataset and the subsets made from it (split), and never written
 * after loading. Images are kept as bytes (kind OL_DS_U8) with a scale, so
 * 60000 Fashion-MNIST images take 47 MB instead of 188 MB of floats; a byte
 * b reads as b * scale (1/255 for images: values in [0, 1]). Other data
 * (CSV, synthetic) are kept as doubles (OL_DS_F64), and data made from an
 * f32 tensor as floats (OL_DS_F32). Conversion to the
 * caller's element type (f32 or f64) happens per batch, in ol_dataset_gather.
 *
 * Labels are int32 class labels, 1-based (1..classes), as a user names
 * them; a gather hands them out as the 0-based class ids the losses take
 * (label - 1). classes is 0 for an unlabelled dataset.
 *
 * A dataset is a selection of store rows (rows == NULL: all of them, in
 * order) plus an optional per-feature standardisation
 * (value - mean[j]) / std[j], applied on the fly by every read, so that
 * standardising bytes does not turn them into floats in memory. */
#ifndef OL_DATA_DATASET_H
#define OL_DATA_DATASET_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef enum ol_ds_kind { OL_DS_U8 = 0, OL_DS_F32 = 1, OL_DS_F64 = 2 } ol_ds_kind;

typedef struct ol_ds_store {
    long refs;
    ol_ds_kind kind;
    int64_t n, d;
    void *x;        /* n*d row-major: uint8_t, float or double */
    double scale;   /* OL_DS_U8: feature value = byte * scale */
    int32_t *y;     /* n labels in 1..classes, or NULL */
} ol_ds_store;

typedef struct ol_dataset {
    ol_ds_store *st;
    int64_t n;          /* samples in this dataset */
    int64_t d;          /* features per sample */
    int64_t *rows;      /* n store rows, or NULL: store rows 0..n-1 */
    int32_t classes;    /* labels are 1..classes; 0: unlabelled */
    double *mean;       /* d entries, or NULL: not standardised */
    double *std;        /* d entries, all > 0, or NULL */
} ol_dataset;

/* A fitted standardisation: per-feature mean and standard deviation
 * (population, divided by N). A feature with zero spread gets std 1, so it
 * is centred but not divided by zero. */
typedef struct ol_standardizer {
    int64_t d;
    double *mean;
    double *std;
} ol_standardizer;

/* Takes ownership of x (malloc'd, n*d elements of the kind) and y (malloc'd n
 * labels, or NULL), also when it fails. Labels must lie in 1..classes
 * (checked; the message names the sample). */
ol_dataset *ol_dataset_new(ol_ds_kind kind, int64_t n, int64_t d, void *x, double scale,
                           int32_t *y, int32_t classes, ol_error *err);
void ol_dataset_free(ol_dataset *ds); /* NULL is fine */

/* Store row of sample i (0-based). */
static inline int64_t ol_dataset_row(const ol_dataset *ds, int64_t i) {
    return ds->rows ? ds->rows[i] : i;
}
/* Class id (1-based) of sample i, or 0 when unlabelled. */
static inline int32_t ol_dataset_label(const ol_dataset *ds, int64_t i) {
    return ds->st->y ? ds->st->y[ol_dataset_row(ds, i)] : 0;
}

/* Copies samples idx[0..n-1] (0-based) into x (n*d row-major, element
 * type dt) and their class ids into ids (n values, 0-based: label - 1; -1
 * for an unlabelled dataset), reading each label once; ids may be NULL.
 * Scale and standardisation are applied. idx must be in range. */
void ol_dataset_gather(const ol_dataset *ds, const int64_t *idx, int64_t n, ol_dtype dt,
                       void *x, int32_t *ids);
/* The same, and asks the memory system for the features of the samples
 * next[0..n_next-1] of the batch after (a hint: no effect on any value),
 * each thread for its share once its rows are copied. */
void ol_dataset_gather_ahead(const ol_dataset *ds, const int64_t *idx, int64_t n, ol_dtype dt,
                             void *x, int32_t *ids, const int64_t *next, int64_t n_next);

/* A new dataset over the samples idx[0..n-1] of ds (0-based, in range,
 * repeats allowed), sharing its storage and standardisation. */
ol_dataset *ol_dataset_subset(const ol_dataset *ds, const int64_t *idx, int64_t n, ol_error *err);

/* Shuffles the samples with the global RNG (Fisher-Yates, ol_rng_below) and
 * puts the first round(frac * n) in *first, the rest in *second.
 * 0 <= frac <= 1. */
int ol_dataset_split(const ol_dataset *ds, double frac, ol_dataset **first, ol_dataset **second,
                     ol_error *err);

/* Fits mean and std on the samples of ds as they read now (after scale,
 * before any standardisation of ds itself). out owns its arrays after
 * success; release with ol_standardizer_free. */
int ol_standardizer_fit(const ol_dataset *ds, ol_standardizer *out, ol_error *err);
void ol_standardizer_free(ol_standardizer *s);
/* Sets (replaces) the standardisation of ds; s->d must equal ds->d. */
int ol_dataset_standardize(ol_dataset *ds, const ol_standardizer *s, ol_error *err);

/* In-place Fisher-Yates shuffle of a[0..n-1] with ol_rng_below: for i from
 * n-1 down to 1, swap a[i] with a[j], j uniform in 0..i (Knuth, TAOCP vol. 2,
 * 3.4.2, Algorithm P). */
void ol_shuffle_i64(int64_t *a, int64_t n);

#endif
