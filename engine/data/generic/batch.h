/* The dense target of batch.c, written once for T (core/generic.h). */

/* n rows of w values from the class ids (nn.h): one-hot rows, or the id
 * itself as the one value of a row (binary). */
static void S(write_dense)(const int32_t *ids, int64_t n, int64_t w, int binary, T *dense) {
    for (int64_t i = 0; i < n; i++) {
        const int32_t c = ids[i];
        for (int64_t j = 0; j < w; j++)
            dense[i * w + j] = (T)(binary ? (double)c : (double)(j == c));
    }
}
