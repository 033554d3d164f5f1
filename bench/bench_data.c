/* Data benchmark: time to read the Fashion-MNIST training set (gzip IDX),
 * then samples/s of iterating full epochs through the loader at batch 128
 * (shuffled, byte images converted to f32 per batch), plain, class-balanced
 * and standardised. Prints figures; not a test.
 *   bench_data [dir]   (default /usr/share/datasets/fashion-mnist) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "data/loader.h"
#include "data/readers.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs `epochs` epochs of batches (features and class ids, with the next
 * batch's prefetch, as the training loop reads them); returns samples per
 * second. */
static double run(const ol_dataset *ds, ol_loader_opts o, ol_dtype dt, int epochs, double *sink) {
    ol_loader l;
    ol_batch b;
    ol_error err;
    if (ol_loader_init(&l, ds, &o, &err) != 0 || ol_loader_batch_init(&l, &b, dt, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    int64_t total = 0;
    double t0 = now();
    for (int e = 0; e < epochs; e++) {
        while (ol_loader_next_batch(&l, &b) > 0) {
            total += b.n;
            *sink += dt == OL_F32 ? ((float *)b.x)[0] : ((double *)b.x)[0]; /* keep the copy */
        }
    }
    double dt_s = now() - t0;
    ol_batch_free(&b);
    ol_loader_free(&l);
    return (double)total / dt_s;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    char im[1024], lb[1024];
    snprintf(im, sizeof im, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lb, sizeof lb, "%s/train-labels-idx1-ubyte.gz", dir);
    ol_error err;
    double t0 = now();
    ol_dataset *ds = ol_read_idx(im, lb, 10, &err);
    if (!ds) {
        fprintf(stderr, "%s\n(apt-get install dataset-fashion-mnist)\n", err.msg);
        return 1;
    }
    printf("read %lld x %lld (gzip IDX, kept as %.1f MB of bytes): %.3f s\n", (long long)ds->n,
           (long long)ds->d, (double)(ds->n * ds->d) / 1e6, now() - t0);
    double sink = 0;
    ol_loader_opts o = {.batch_size = 128, .shuffle = 1};
    printf("loader, batch 128, shuffled, f32:      %10.0f samples/s\n", run(ds, o, OL_F32, 3, &sink));
    printf("loader, batch 128, shuffled, f64:      %10.0f samples/s\n", run(ds, o, OL_F64, 3, &sink));
    o.balanced = 1;
    printf("loader, batch 128, balanced, f32:      %10.0f samples/s\n", run(ds, o, OL_F32, 3, &sink));
    o.balanced = 0;
    ol_standardizer s;
    if (ol_standardizer_fit(ds, &s, &err) != 0 || ol_dataset_standardize(ds, &s, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("loader, batch 128, standardised, f32:  %10.0f samples/s\n", run(ds, o, OL_F32, 3, &sink));
    ol_standardizer_free(&s);
    ol_dataset_free(ds);
    return sink == 12345.678 ? 2 : 0;
}
