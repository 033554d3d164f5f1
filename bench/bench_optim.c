/* One optimizer step on a flat 10M-parameter f32 buffer, for every
 * registered optimizer (and the option settings that change the work):
 * ms/step and effective GB/s, set against the in-place update bandwidth
 * (a[i] += s*c[i], read 2 + write 1) measured in the same run.
 *
 * Effective bytes = the streams a step must move at the least: w read and
 * written, g read, each state buffer it uses read and written. Optimizers
 * not in the table below count 3 + 2·nstate streams. A rule that needs a
 * tensor's norm before it can update (lamb, lars, adafactor) passes over
 * the tensor twice: it counts both passes' streams. Best of 7 steps.
 * Then the weight averages' passes (optim/average.h) on the same buffer:
 * an ema or swa update moves 3 streams (e read and written, w read), a
 * swap 4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "optim/average.h"
#include "optim/optim.h"

#define NPARAM 10000000
#define REPS 7

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void axpy(float *restrict a, float s, const float *restrict c, int64_t n) {
    for (int64_t i = 0; i < n; i++) a[i] += s * c[i];
}

typedef struct setting {
    const char *label, *name;
    const char *opt1;
    double v1;
    const char *opt2;
    double v2;
    int streams;
} setting;

/* The configurations whose traffic differs from 3 + 2·nstate. */
static const setting settings[] = {
    {"sgd", "sgd", NULL, 0, NULL, 0, 3},
    {"sgd momentum", "sgd", "momentum", 0.9, NULL, 0, 5},
    {"sgd nesterov", "sgd", "momentum", 0.9, "nesterov", 1, 5},
    {"nag (grad form)", "nag", NULL, 0, NULL, 0, 5},
    {"adaptive_gains", "adaptive_gains", NULL, 0, NULL, 0, 9},
    {"rprop irprop-", "rprop", NULL, 0, NULL, 0, 8},
    {"rmsprop", "rmsprop", NULL, 0, NULL, 0, 5},
    {"rmsprop centered+mom", "rmsprop", "centered", 1, "momentum", 0.9, 9},
    {"adagrad", "adagrad", NULL, 0, NULL, 0, 5},
    {"adadelta", "adadelta", NULL, 0, NULL, 0, 7},
    /* g, w, m, v read, m, v written; then w, m, v read, w written */
    {"lamb", "lamb", NULL, 0, NULL, 0, 10},
    /* w, g read; then g, w, b read, b, w written */
    {"lars momentum", "lars", NULL, 0, NULL, 0, 7},
    /* one vector: g, w, V read, V written; then g, w, V read, w written */
    {"adafactor (vector)", "adafactor", NULL, 0, NULL, 0, 8},
    /* one vector: the diagonal rule (g, w, b, H read; w, b, H written) */
    {"shampoo (vector)", "shampoo", NULL, 0, NULL, 0, 7},
    /* one vector: Adam into the scratch (6), then w (3) */
    {"soap (vector)", "soap", NULL, 0, NULL, 0, 9},
};

static void run(const char *label, const ol_optim_desc *d, const char *o1, double v1,
                const char *o2, double v2, int streams, ol_tensor *w, ol_tensor *g, double ref_gbs) {
    ol_error err;
    ol_optim opt;
    if (ol_optim_init(&opt, d, OL_F32, NPARAM, &err)) {
        printf("%-22s  (%s)\n", label, err.msg);
        return;
    }
    if ((o1 && ol_optim_set(&opt, o1, &v1, &err)) || (o2 && ol_optim_set(&opt, o2, &v2, &err))) {
        printf("%-22s  (%s)\n", label, err.msg);
        ol_optim_free(&opt);
        return;
    }
    double best = 1e30;
    for (int r = 0; r <= REPS; r++) {
        double t0 = now();
        if (ol_optim_step(&opt, w, g, 1.0, 0, &err)) {
            /* closure-only methods (newton, cg, lbfgs, hessian_free) */
            printf("%-22s  (skipped: %s)\n", label, err.msg);
            ol_optim_free(&opt);
            return;
        }
        double t = now() - t0;
        if (r > 0 && t < best) best = t; /* the first step touches fresh pages */
    }
    double gbs = (double)streams * sizeof(float) * NPARAM / best / 1e9;
    printf("%-22s %8.2f ms %8.2f GB/s %6.0f%%\n", label, 1e3 * best, gbs, 100 * gbs / ref_gbs);
    ol_optim_free(&opt);
}

/* One averaging pass over w: op 0 an ema update, 1 a swa update (after
 * the first, which is a copy), 2 a swap. */
static void run_average(const char *label, int op, int streams, ol_tensor *w, double ref_gbs) {
    ol_error err;
    ol_average a;
    int rc = op == 0 ? ol_average_init_ema(&a, w, 0.999, 0, &err) : ol_average_init_swa(&a, w, 0, 1, &err);
    if (rc) {
        printf("%-22s  (%s)\n", label, err.msg);
        return;
    }
    double best = 1e30;
    for (int r = 0; r <= REPS; r++) {
        double t0 = now();
        if (op == 2) ol_average_swap(&a);
        else ol_average_update(&a);
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
    double gbs = (double)streams * sizeof(float) * NPARAM / best / 1e9;
    printf("%-22s %8.2f ms %8.2f GB/s %6.0f%%\n", label, 1e3 * best, gbs, 100 * gbs / ref_gbs);
    ol_average_free(&a);
}

int main(void) {
    ol_error err;
    const int64_t shape[1] = {NPARAM};
    ol_tensor w, g;
    if (ol_tensor_full(&w, OL_F32, 1, shape, 0.5, &err) || ol_tensor_full(&g, OL_F32, 1, shape, 0.01, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* tiny gradients keep every optimizer's weights finite over the reps */
    float *a = ol_tensor_data(&w);
    const float *c = ol_tensor_data(&g);
    double best = 1e30;
    for (int r = 0; r <= REPS; r++) {
        double t0 = now();
        axpy(a, 1e-7f, c, NPARAM);
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
    const double ref = 3.0 * sizeof(float) * NPARAM / best / 1e9;
    printf("10M f32 parameters; reference a += s*c: %.2f ms, %.2f GB/s (= 100%%)\n", 1e3 * best, ref);
    printf("%-22s %11s %13s %7s\n", "optimizer", "step", "effective", "of ref");
    for (size_t k = 0; k < sizeof settings / sizeof settings[0]; k++) {
        const setting *s = &settings[k];
        const ol_optim_desc *d = ol_optim_find(s->name);
        if (d) run(s->label, d, s->opt1, s->v1, s->opt2, s->v2, s->streams, &w, &g, ref);
    }
    /* the rest of the registry (the optimizers without a case above): 3 + 2·nstate streams */
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) {
        int listed = 0;
        for (size_t k = 0; k < sizeof settings / sizeof settings[0]; k++)
            listed |= strcmp(settings[k].name, (*d)->name) == 0;
        if (!listed) run((*d)->name, *d, NULL, 0, NULL, 0, 3 + 2 * (*d)->nstate, &w, &g, ref);
    }
    run_average("average: ema update", 0, 3, &w, ref);
    run_average("average: swa update", 1, 3, &w, ref);
    run_average("average: swap", 2, 4, &w, ref);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    return 0;
}
