/* One optimizer step on 10M f32 parameters, for every optimizer in the
 * registry (and the option settings that change the work), against the
 * update bandwidth measured in the same run; then AdamW with one parameter
 * group against two; then the weight averages' passes (optim/average.h).
 *
 * Every case runs in each of ROUNDS rounds, the cases interleaved (the
 * order reversed every other round), so that a slow spell of a shared
 * host hits them all; a case is built afresh each round, takes one untimed
 * step (fresh pages, the first step's own work: adagrad's and yogi's
 * init, schedule-free's z <- w), then STEPS timed ones (a slow one: see
 * SLOW_STEP). Figures are the medians of the times.
 *
 * The reference is the in-place update a[i] += s·c[i] (2 streams read, 1
 * written) over the same 10M floats, on one thread and cut among the
 * engine's threads as a step is (ol_parallel_for with the step's grain
 * and smallest part): as cases of their own (the faster median is the
 * run's 100%, "of bw"), and, cut over the threads, just before each timed
 * step of every case ("near bw"), so that each case also has the
 * bandwidth of its own moments (a host shared with other work moves it by
 * 2x within a run): a check on drift, not the goal's measure. Every timed
 * pass starts with cold caches (flush, below).
 *
 * Bytes a step must touch: w read and written, g read, each state buffer
 * read and written (ol_optim_state_numel elements each, so a per-tensor
 * optimizer's smaller state counts as it is). Where the settings leave
 * declared buffers untouched (sgd without momentum, adam without amsgrad,
 * rmsprop's unused buffers) or a per-tensor rule moves other state on
 * matrices than on vectors (muon), the table below gives the streams.
 *
 * Layouts: fused optimizers step the flat buffer (one vector, as
 * ol_optim_init leaves it); per-tensor ones (OL_OPTIM_TENSOR) an MLP-like
 * set through ol_optim_set_params: LAYERS weight matrices OUT x IN, each
 * followed by its bias of OUT, the matrices in group 1 and the biases in
 * group 2 (with the group-2 option below where the rule needs one). The
 * group comparison steps AdamW over that layout with every tensor in one
 * group (weight_decay 0.1, one range) and with the biases in a second
 * group (weight_decay 0; 2·LAYERS ranges), the two in turn (run_groups). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/parallel.h"
#include "core/threads.h"
#include "optim/average.h"
#include "optim/optim.h"

#define LAYERS 40
#define OUT 500
#define IN 499
#define NPARAM ((int64_t)LAYERS * OUT * (IN + 1)) /* 10,000,000 */
#define ROUNDS 9
#define STEPS 3
#define NSAMPLES (ROUNDS * STEPS)
/* A rule may be compute-bound (muon's Newton-Schulz products take
 * seconds over this layout): a case whose untimed step takes more than
 * SLOW_STEP seconds takes one timed step in each of the first SLOW_ROUNDS
 * rounds only. */
#define SLOW_STEP 0.25
#define SLOW_ROUNDS 3

#define GOAL_BW 70.0     /* % of the reference, elementwise optimizers */
#define GOAL_GROUPS 1.10 /* two groups / one group */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- cold caches ----
 * A 10M-element step moves 120-360 MB, and a last-level cache can hold
 * much of that (260 MB on the Xeon of RESULTS.md): a pass run again at
 * once would find its buffers there, the reference's 80 MB all of them.
 * Every timed pass is preceded by a read of FLUSH_BYTES of other memory,
 * so that each starts from memory. */
#define FLUSH_BYTES ((int64_t)512 << 20)

static float *flush_buf;
static volatile float flush_sink;

typedef struct flush_job {
    float sum[OL_PARALLEL_MAXPARTS];
} flush_job;

static void flush_part(void *p, int64_t begin, int64_t end, int part) {
    flush_job *j = p;
    float s = 0;
    for (int64_t i = begin; i < end; i += 16) s += flush_buf[i]; /* one float a cache line */
    j->sum[part] = s;
}

static void flush(void) {
    flush_job j = {{0}};
    ol_parallel_for(FLUSH_BYTES / 4, OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, flush_part, &j);
    flush_sink = j.sum[0];
}

/* ---- the reference: a += s*c ---- */

typedef struct axpy_job {
    float *a;
    const float *c;
    float s;
} axpy_job;

static void axpy_part(void *p, int64_t begin, int64_t end, int part) {
    (void)part;
    axpy_job *j = p;
    float *restrict a = j->a;
    const float *restrict c = j->c;
    for (int64_t i = begin; i < end; i++) a[i] += j->s * c[i];
}

/* steps timed runs of the reference into t, after an untimed one unless
 * steps is 0 (then one timed run). */
static void time_ref(int one_thread, int steps, ol_tensor *w, const ol_tensor *g, double *t,
                     int *nt) {
    /* tiny gradients keep every optimizer's weights finite over the rounds */
    axpy_job j = {.a = ol_tensor_data(w), .c = ol_tensor_data(g), .s = 1e-7f};
    for (int r = 0; r <= steps; r++) {
        flush();
        const double t0 = now();
        if (one_thread) axpy_part(&j, 0, NPARAM, 0);
        else ol_parallel_for(NPARAM, OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, axpy_part, &j);
        const double dt = now() - t0;
        if (r > 0 || steps == 0) t[(*nt)++] = dt;
    }
}

/* ---- the cases ---- */

typedef enum layout { FLAT, MLP } layout;
typedef enum what { REF_ONE, REF_ALL, OPTIM, AVERAGE, GROUPS } what;

/* Options set on the instance: on every group (group 0) or on one. */
typedef struct opt_value {
    const char *name;
    double v;
    const char *choice; /* an enum's value by name (v unused) */
    int group;          /* -1: every group */
} opt_value;

typedef struct bench_case {
    char label[40];
    what what;
    const ol_optim_desc *d;
    layout layout;
    int two_groups;     /* MLP: biases in group 2 */
    opt_value set[3];
    int streams;        /* 0: from the state (ol_optim_state_numel) */
    int elementwise;    /* the goal applies: a fused kind, or a setting's flag */
    int slow;           /* its first step took more than SLOW_STEP */
    int vstreams;       /* MLP: streams over bias elements, when streams is set */
    int index;          /* AVERAGE: 0 ema update, 1 swa update, 2 swap; GROUPS: of groups[] */
    double bytes;       /* filled at the first round */
    double t[NSAMPLES];
    int nt;
    double ref[NSAMPLES]; /* the reference cut over the threads, run just before */
    int nref;
    char skipped[256];
} bench_case;

/* The settings whose traffic differs from what the state's length says,
 * and the other settings that change the work. */
typedef struct setting {
    const char *label, *name;
    opt_value set[2];
    int streams, vstreams;
    int elementwise; /* a per-tensor kind whose rule under these settings is elementwise */
} setting;

static const setting settings[] = {
    {"sgd", "sgd", {{0}}, 3, 0, 0},
    {"sgd momentum", "sgd", {{"momentum", 0.9, NULL, -1}}, 5, 0, 0},
    {"sgd nesterov", "sgd", {{"momentum", 0.9, NULL, -1}, {"nesterov", 1, NULL, -1}}, 5, 0, 0},
    {"nag (grad form)", "nag", {{0}}, 5, 0, 0},
    {"adaptive_gains", "adaptive_gains", {{0}}, 9, 0, 0},
    {"rprop irprop-", "rprop", {{0}}, 8, 0, 0},
    {"rmsprop", "rmsprop", {{0}}, 5, 0, 0},
    {"rmsprop centered+mom", "rmsprop", {{"centered", 1, NULL, -1}, {"momentum", 0.9, NULL, -1}}, 9, 0, 0},
    /* per tensor for its full_matrix form; elementwise without it */
    {"adagrad", "adagrad", {{0}}, 5, 0, 1},
    {"adadelta", "adadelta", {{0}}, 7, 0, 0},
    {"adam", "adam", {{0}}, 7, 0, 0},
    {"adam amsgrad", "adam", {{"amsgrad", 1, NULL, -1}}, 9, 0, 0},
    {"adamw", "adamw", {{0}}, 7, 0, 0},
    /* momentum on the matrices, AdamW on the biases */
    {"muon", "muon", {{"use", 0, "adamw", 1}}, 5, 7, 0},
    /* elementwise but for a norm per tensor: the goal applies (the bytes
     * from the state: the second pass over the tensor is not counted) */
    {"lamb", "lamb", {{0}}, 0, 0, 1},
    {"lars", "lars", {{0}}, 0, 0, 1},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static void mlp_params(ol_optim_param *p, int two_groups) {
    int64_t at = 0;
    for (int l = 0; l < LAYERS; l++) {
        p[2 * l] = (ol_optim_param){.offset = at, .rows = OUT, .cols = IN, .matrix = 1, .group = 0};
        at += (int64_t)OUT * IN;
        p[2 * l + 1] = (ol_optim_param){.offset = at, .rows = 1, .cols = OUT, .group = two_groups};
        at += OUT;
    }
}

static int set_value(ol_optim *opt, const opt_value *s, ol_error *err) {
    ol_optim_field f;
    if (ol_optim_find_field(opt->desc, s->name, &f, err)) return -1;
    double v = s->v;
    if (s->choice && (v = ol_optim_enum_index(f.option, s->choice)) < 0)
        return ol_fail(err, "no choice '%s' for '%s'", s->choice, s->name);
    return ol_optim_group_set_field(opt, s->group, f, &v, err);
}

static int make(bench_case *c, ol_optim *opt, ol_error *err) {
    if (ol_optim_init(opt, c->d, OL_F32, NPARAM, err)) return -1;
    if (c->layout == MLP) {
        ol_optim_param p[2 * LAYERS];
        mlp_params(p, c->two_groups);
        opt->defer_check = 1; /* the groups' options are set next */
        if (ol_optim_set_params(opt, p, 2 * LAYERS, 1 + c->two_groups, err)) goto fail;
    }
    for (int k = 0; k < 3 && c->set[k].name; k++)
        if (set_value(opt, &c->set[k], err)) goto fail;
    return 0;
fail:
    ol_optim_free(opt);
    return -1;
}

/* Bytes a step of c moves, from its instance. */
static double bytes(const bench_case *c, const ol_optim *opt) {
    if (c->streams) {
        if (c->layout == FLAT || !c->vstreams) return 4.0 * c->streams * NPARAM;
        const double nvec = (double)LAYERS * OUT, nmat = (double)NPARAM - nvec;
        return 4.0 * (c->streams * nmat + c->vstreams * nvec);
    }
    double e = 3.0 * NPARAM;
    for (int k = 0; k < opt->desc->nstate; k++) e += 2.0 * (double)ol_optim_state_numel(opt, k);
    return 4.0 * e;
}

static void run_optim(bench_case *c, ol_tensor *w, const ol_tensor *g) {
    ol_error err;
    ol_optim opt;
    if (make(c, &opt, &err)) {
        snprintf(c->skipped, sizeof c->skipped, "%s", err.msg);
        return;
    }
    c->bytes = bytes(c, &opt);
    int steps = c->slow ? 1 : STEPS;
    for (int r = 0; r <= steps; r++) {
        if (r > 0) time_ref(0, 0, w, g, c->ref, &c->nref); /* just before the step */
        flush();
        const double t0 = now();
        if (ol_optim_step(&opt, w, g, 1.0, 0, &err)) {
            snprintf(c->skipped, sizeof c->skipped, "%s", err.msg);
            break;
        }
        const double t = now() - t0;
        if (r > 0) c->t[c->nt++] = t;
        else if (t > SLOW_STEP && !c->slow) c->slow = 1, steps = 1;
    }
    ol_optim_free(&opt);
}

/* The group comparison: both instances live through the rounds; in each
 * round they step in turn, STEPS times each, the order swapped every
 * other time, and each pair of steps gives a ratio two / one, so that
 * drift of the host between the two hardly enters it. */
typedef struct groups_bench {
    bench_case one, two; /* their settings and times */
    ol_optim a, b;
    int ready;
    double ratio[NSAMPLES];
    int nratio;
    int threads; /* 0: the engine's default (all cores) */
} groups_bench;

/* At all threads, and on one: a step cut over the threads waits for them
 * at the end of every range, which a host busy with other work makes
 * costly; on one thread only the ranges' own cost is left. */
static groups_bench groups[2] = {{.threads = 0}, {.threads = 1}};

static double timed_step(ol_optim *opt, ol_tensor *w, const ol_tensor *g, ol_error *err) {
    flush();
    const double t0 = now();
    return ol_optim_step(opt, w, g, 1.0, 0, err) ? NAN : now() - t0;
}

static void run_groups(groups_bench *gb, ol_tensor *w, const ol_tensor *g) {
    ol_error err;
    ol_set_threads(gb->threads);
    if (!gb->ready) {
        if (make(&gb->one, &gb->a, &err)) goto fail;
        if (make(&gb->two, &gb->b, &err)) {
            ol_optim_free(&gb->a);
            goto fail;
        }
        gb->one.bytes = bytes(&gb->one, &gb->a);
        gb->two.bytes = bytes(&gb->two, &gb->b);
        gb->ready = 1;
        if (isnan(timed_step(&gb->a, w, g, &err)) || isnan(timed_step(&gb->b, w, g, &err))) goto fail;
    }
    for (int k = 0; k < STEPS; k++) {
        double ta, tb;
        if (gb->nratio % 2) {
            tb = timed_step(&gb->b, w, g, &err);
            ta = timed_step(&gb->a, w, g, &err);
        } else {
            ta = timed_step(&gb->a, w, g, &err);
            tb = timed_step(&gb->b, w, g, &err);
        }
        if (isnan(ta) || isnan(tb)) goto fail;
        gb->one.t[gb->one.nt++] = ta;
        gb->two.t[gb->two.nt++] = tb;
        gb->ratio[gb->nratio++] = tb / ta;
    }
    ol_set_threads(0);
    return;
fail:
    ol_set_threads(0);
    snprintf(gb->one.skipped, sizeof gb->one.skipped, "%s", err.msg);
}

static void run_average(bench_case *c, ol_tensor *w, const ol_tensor *g) {
    ol_error err;
    ol_average a;
    const int op = c->index;
    if (op == 0 ? ol_average_init_ema(&a, w, 0.999, 0, &err) : ol_average_init_swa(&a, w, 0, 1, &err)) {
        snprintf(c->skipped, sizeof c->skipped, "%s", err.msg);
        return;
    }
    c->bytes = 4.0 * c->streams * NPARAM;
    for (int r = 0; r <= STEPS; r++) {
        if (r > 0) time_ref(0, 0, w, g, c->ref, &c->nref);
        flush();
        const double t0 = now();
        if (op == 2) ol_average_swap(&a);
        else ol_average_update(&a); /* swa: the first is a copy */
        const double t = now() - t0;
        if (r > 0) c->t[c->nt++] = t;
    }
    ol_average_free(&a);
}

static void run_ref(bench_case *c, ol_tensor *w, const ol_tensor *g) {
    c->bytes = 3.0 * 4 * NPARAM;
    time_ref(c->what == REF_ONE, STEPS, w, g, c->t, &c->nt);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *t, int n) {
    if (n == 0) return NAN;
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static double median(bench_case *c) {
    return median_of(c->t, c->nt);
}

/* The update bandwidth measured next to c's steps, GB/s. */
static double adjacent_bw(bench_case *c) {
    return 3.0 * 4 * NPARAM / median_of(c->ref, c->nref) / 1e9;
}

/* ---- building the list ---- */

static bench_case *cases;
static int ncases;

static bench_case *add(const char *label, what wh) {
    bench_case *c = &cases[ncases++];
    memset(c, 0, sizeof *c);
    snprintf(c->label, sizeof c->label, "%s", label);
    c->what = wh;
    return c;
}

static void add_optim(const char *label, const ol_optim_desc *d, const opt_value *set, int nset,
                      int streams, int vstreams, int elementwise) {
    bench_case *c = add(label, OPTIM);
    c->d = d;
    c->layout = d->kind == OL_OPTIM_TENSOR ? MLP : FLAT;
    c->two_groups = c->layout == MLP;
    c->streams = streams;
    c->vstreams = vstreams;
    c->elementwise = elementwise || d->kind == OL_OPTIM_FUSED;
    for (int i = 0; i < nset && set[i].name; i++) c->set[i] = set[i];
}

int main(void) {
    ol_error err;
    const int64_t shape[1] = {NPARAM};
    ol_tensor w, g;
    if (ol_tensor_full(&w, OL_F32, 1, shape, 0.5, &err) || ol_tensor_full(&g, OL_F32, 1, shape, 0.01, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    flush_buf = malloc((size_t)FLUSH_BYTES);
    if (!flush_buf) return 1;
    for (int64_t i = 0; i < FLUSH_BYTES / 4; i++) flush_buf[i] = 1;
    int nreg = 0;
    while (ol_optim_registry[nreg]) nreg++;
    cases = calloc((size_t)(nreg + NSETTINGS + 10), sizeof *cases);
    if (!cases) return 1;

    bench_case *ref1 = add("a += s*c, 1 thread", REF_ONE);
    bench_case *refn = add("a += s*c, all threads", REF_ALL);
    const int first_optim = ncases;
    /* the registry in its order, each name's settings where it has some */
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) {
        int listed = 0;
        for (size_t k = 0; k < NSETTINGS; k++) {
            const setting *s = &settings[k];
            if (strcmp(s->name, (*d)->name) != 0) continue;
            add_optim(s->label, *d, s->set, 2, s->streams, s->vstreams, s->elementwise);
            listed = 1;
        }
        if (!listed) add_optim((*d)->name, *d, NULL, 0, 0, 0, 0);
    }
    const int end_optim = ncases;
    /* parameter groups: AdamW over the MLP layout */
    const ol_optim_desc *adamw = ol_optim_find("adamw");
    for (int k = 0; k < 2; k++) {
        add("groups", GROUPS)->index = k;
        bench_case *one = &groups[k].one, *two = &groups[k].two;
        one->d = two->d = adamw;
        one->layout = two->layout = MLP;
        one->streams = two->streams = 7;
        two->two_groups = 1;
        one->set[0] = (opt_value){"weight_decay", 0.1, NULL, -1};
        two->set[0] = (opt_value){"weight_decay", 0.1, NULL, 0};
        two->set[1] = (opt_value){"weight_decay", 0, NULL, 1};
    }
    const char *avg_label[3] = {"average: ema update", "average: swa update", "average: swap"};
    for (int k = 0; k < 3; k++) {
        bench_case *c = add(avg_label[k], AVERAGE);
        c->index = k;
        c->streams = k == 2 ? 4 : 3;
    }

    for (int round = 0; round < ROUNDS; round++)
        for (int i = 0; i < ncases; i++) {
            bench_case *c = &cases[round % 2 ? ncases - 1 - i : i];
            if (c->skipped[0] || (c->what == GROUPS && groups[c->index].one.skipped[0])) continue;
            if (c->what == OPTIM && c->d->kind == OL_OPTIM_CLOSURE) {
                snprintf(c->skipped, sizeof c->skipped, "%s needs a closure", c->d->name);
                continue;
            }
            if (c->slow && round >= SLOW_ROUNDS) continue;
            if (c->what == GROUPS) {
                run_groups(&groups[c->index], &w, &g);
            } else if (c->what == OPTIM) run_optim(c, &w, &g);
            else if (c->what == AVERAGE) run_average(c, &w, &g);
            else run_ref(c, &w, &g);
        }

    const double m1 = median(ref1), mn = median(refn);
    const double ref = ref1->bytes / fmin(m1, mn) / 1e9;
    printf("10M f32 parameters, %d threads; %d interleaved rounds x %d steps, medians\n",
           ol_parallel_parts(NPARAM, OL_OPTIM_MIN_PART), ROUNDS, STEPS);
    printf("reference a += s*c: 1 thread %.2f ms (%.1f GB/s), all threads %.2f ms (%.1f GB/s); "
           "%.1f GB/s = 100%%\n",
           1e3 * m1, ref1->bytes / m1 / 1e9, 1e3 * mn, refn->bytes / mn / 1e9, ref);
    printf("per-tensor optimizers: %d layers of a %dx%d matrix (group 1) and a bias of %d (group 2)\n\n",
           LAYERS, OUT, IN, OUT);
    printf("%-22s %-6s %8s %9s %7s %6s %6s %8s %7s\n", "optimizer", "kind", "MB moved", "step ms",
           "GB/s", "of bw", "goal", "near bw", "of near");
    char goal[16];
    snprintf(goal, sizeof goal, ">=%.0f%%", GOAL_BW);
    for (int i = first_optim; i < end_optim; i++) {
        bench_case *c = &cases[i];
        const char *kind = c->d->kind == OL_OPTIM_FUSED ? "fused" : c->d->kind == OL_OPTIM_TENSOR ? "tensor" : "closure";
        if (c->skipped[0] && c->nt == 0) {
            printf("%-22s %-6s  (skipped: %s)\n", c->label, kind, c->skipped);
            continue;
        }
        const double m = median(c), gbs = c->bytes / m / 1e9, bw = adjacent_bw(c);
        printf("%-22s %-6s %8.0f %9.2f %7.1f %5.0f%% %6s %8.1f %6.0f%%\n", c->label, kind,
               c->bytes / 1e6, 1e3 * m, gbs, 100 * gbs / ref,
               c->elementwise ? goal : "", bw, 100 * gbs / bw);
    }
    printf("\nparameter groups: adamw over the %d-layer layout (%d tensors), the two stepped in turn\n",
           LAYERS, 2 * LAYERS);
    for (int k = 0; k < 2; k++) {
        groups_bench *gb = &groups[k];
        const bench_case *one = &gb->one, *two = &gb->two;
        printf("  %s:\n", gb->threads ? "1 thread" : "all threads");
        if (one->skipped[0]) {
            printf("    (skipped: %s)\n", one->skipped);
            continue;
        }
        const double mo = median(&gb->one), mt = median(&gb->two);
        printf("    1 group  (weight_decay 0.1 on all; 1 range)       %8.2f ms  %5.0f%% of bw\n",
               1e3 * mo, 100 * one->bytes / mo / 1e9 / ref);
        printf("    2 groups (weights 0.1, biases 0; %d ranges)      %8.2f ms  %5.0f%% of bw\n",
               2 * LAYERS, 1e3 * mt, 100 * two->bytes / mt / 1e9 / ref);
        printf("    ratio 2 groups / 1 group: %.3f (median of %d paired steps; of the medians %.3f)"
               "   goal <= %.2f\n",
               median_of(gb->ratio, gb->nratio), gb->nratio, mt / mo, GOAL_GROUPS);
        if (gb->ready) {
            ol_optim_free(&gb->a);
            ol_optim_free(&gb->b);
        }
    }
    printf("\n");
    for (int i = end_optim + 2; i < ncases; i++) {
        bench_case *c = &cases[i];
        const double m = median(c), gbs = c->bytes / m / 1e9, bw = adjacent_bw(c);
        printf("%-22s %-6s %8.0f %9.2f %7.1f %5.0f%% %6s %8.1f %6.0f%%\n", c->label, "",
               c->bytes / 1e6, 1e3 * m, gbs, 100 * gbs / ref, "", bw, 100 * gbs / bw);
    }
    free(cases);
    free(flush_buf);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    return 0;
}
