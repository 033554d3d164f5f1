/* The FANN side of bench/run's comparison: training samples/s of a
 * 784-256-128-10 network on Fashion-MNIST with Debian's libfann 2.2 (float).
 * Built by bench/run with cc directly, not by the CMake build:
 *   cc -O2 -march=native bench/compare_fann.c -lfloatfann -lz -lm
 *
 * FANN has no mini-batches; it trains either per sample or per epoch:
 *   incremental (FANN_TRAIN_INCREMENTAL): backprop and a weight update after
 *     every sample, i.e. online training at batch 1 (fann_train);
 *   batch (FANN_TRAIN_BATCH): gradients summed over the whole training set,
 *     one update per epoch (fann_train_epoch), i.e. full-batch training.
 * FANN 2.2 has no ReLU and no softmax/cross-entropy: the hidden layers use
 * FANN_LINEAR_PIECE (max(0, min(1, x)), its cheapest and the nearest to a
 * ReLU) and the output FANN_SIGMOID with FANN's MSE error. Both settings
 * favour FANN's speed, not its accuracy. FANN is single-threaded.
 * Prints "key value" lines. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <floatfann.h>
#include <zlib.h>

#define DATA "/usr/share/datasets/fashion-mnist"
#define NINC 3000   /* samples timed in incremental mode */
#define NBATCH 6000 /* samples per epoch timed in batch mode */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The first `bytes` bytes of a gzip file after `skip` header bytes. */
static unsigned char *read_gz(const char *path, long skip, long bytes) {
    gzFile f = gzopen(path, "rb");
    unsigned char *buf = malloc((size_t)(skip + bytes));
    if (!f || !buf || gzread(f, buf, (unsigned)(skip + bytes)) != skip + bytes) {
        fprintf(stderr, "compare_fann: cannot read %s\n", path);
        exit(1);
    }
    gzclose(f);
    memmove(buf, buf + skip, (size_t)bytes);
    return buf;
}

int main(void) {
    const int n = NINC > NBATCH ? NINC : NBATCH, d = 784, c = 10;
    unsigned char *img = read_gz(DATA "/train-images-idx3-ubyte.gz", 16, (long)n * d);
    unsigned char *lab = read_gz(DATA "/train-labels-idx1-ubyte.gz", 8, n);
    struct fann_train_data *data = fann_create_train(n, d, c);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) data->input[i][j] = (fann_type)img[(long)i * d + j] / 255.0f;
        for (int j = 0; j < c; j++) data->output[i][j] = (fann_type)(j == lab[i]);
    }

    struct fann *ann = fann_create_standard(4, 784, 256, 128, 10);
    fann_set_activation_function_hidden(ann, FANN_LINEAR_PIECE);
    fann_set_activation_function_output(ann, FANN_SIGMOID);
    fann_randomize_weights(ann, -0.05f, 0.05f);
    fann_set_learning_rate(ann, 0.05f);

    /* incremental: one update per sample */
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    for (int i = 0; i < 100; i++) fann_train(ann, data->input[i], data->output[i]); /* warm-up */
    double t0 = now();
    for (int i = 0; i < NINC; i++) fann_train(ann, data->input[i], data->output[i]);
    printf("fann_incremental_sps %.0f\n", NINC / (now() - t0));

    /* batch: one update per epoch over NBATCH samples, best of 2 epochs */
    struct fann_train_data *sub = fann_subset_train_data(data, 0, NBATCH);
    fann_set_training_algorithm(ann, FANN_TRAIN_BATCH);
    double best = 1e30;
    for (int e = 0; e < 2; e++) {
        t0 = now();
        fann_train_epoch(ann, sub);
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("fann_batch_sps %.0f\n", NBATCH / best);

    FILE *st = fopen("/proc/self/status", "r");
    char line[256];
    while (st && fgets(line, sizeof line, st))
        if (strncmp(line, "VmHWM:", 6) == 0) printf("fann_rss_mb %.1f\n", atof(line + 6) / 1024);
    if (st) fclose(st);
    fann_destroy_train(sub);
    fann_destroy_train(data);
    fann_destroy(ann);
    free(img);
    free(lab);
    return 0;
}
