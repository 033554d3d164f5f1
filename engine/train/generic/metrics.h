/* The correct counts of metrics.c, written once for T (core/generic.h). */

/* The index of the largest of c values (the first of equal ones; NaN never
 * wins; 0 when none is above -inf). Written with selects rather than
 * branches: which class wins is data, so a branch would be mispredicted
 * about once a row. */
static int32_t S(argmax)(const T *restrict v, int64_t c) {
    T best = -INFINITY;
    int32_t at = 0;
    for (int64_t j = 0; j < c; j++) {
        const int more = v[j] > best;
        at = more ? (int32_t)j : at;
        best = more ? v[j] : best;
    }
    return at;
}

/* Rows [lo, hi) of the output y (rows of out values) whose prediction is
 * ids[i]. */
static int64_t S(count_rows)(const T *y, int64_t out, const int32_t *ids, int binary, int64_t lo,
                             int64_t hi) {
    int64_t correct = 0;
    for (int64_t i = lo; i < hi; i++) {
        const int32_t pred = binary ? y[i] > 0 : S(argmax)(y + i * out, out);
        correct += pred == ids[i];
    }
    return correct;
}
