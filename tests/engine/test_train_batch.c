/* The training loop's data: the target rule (nn.h) that turns class labels
 * into a loss's target, the correct count of a batch (metrics.h), and the
 * loop reading each batch's labels once, when the loader makes the batch.
 *
 * That last one is shown by scrambling the dataset's labels between the
 * moment the batch is made and the end of its step (before_step scrambles,
 * on_batch restores): a loop that reads labels only while gathering the
 * batch trains bit for bit as without the scrambling, one that reads them
 * again for the target or the accuracy does not. A run with the labels
 * scrambled throughout shows that the scrambling does change the results.
 * Validation and ol.evaluate go through ol_evaluate_rows, whose loss and
 * count read the batch alone (their arguments hold no dataset); its figures
 * are checked against a count made here. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/loader.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "core/rng.h"
#include "core/threads.h"
#include "train/train.h"

/* ---- the target rule ---- */

static void expect_form(ol_loss_kind k, int64_t out, int32_t classes, ol_target_form want) {
    ol_error err = {{0}};
    ol_target_form form = (ol_target_form)-1;
    if (ol_target_of_labels(k, out, classes, &form, &err))
        fail_msg("%s, %lld outputs, %d classes: %s", ol_loss_name(k), (long long)out, (int)classes,
                 err.msg);
    assert_int_equal(form, want);
}

static void expect_error(int rc, const ol_error *err, const char *msg) {
    assert_int_equal(rc, -1);
    if (!strstr(err->msg, msg)) fail_msg("error \"%s\", want \"%s\"", err->msg, msg);
}

static void test_rule_for_labels(void **state) {
    (void)state;
    ol_error err = {{0}};
    ol_target_form f;
    expect_form(OL_LOSS_CROSS_ENTROPY, 3, 3, OL_TARGET_IDS);
    expect_form(OL_LOSS_CROSS_ENTROPY, 5, 3, OL_TARGET_IDS); /* fewer classes than outputs */
    expect_form(OL_LOSS_BCE, 1, 2, OL_TARGET_BINARY);
    expect_form(OL_LOSS_BCE, 2, 2, OL_TARGET_ONEHOT);
    expect_form(OL_LOSS_BCE, 3, 3, OL_TARGET_ONEHOT);
    expect_form(OL_LOSS_MSE, 3, 3, OL_TARGET_ONEHOT);
    expect_form(OL_LOSS_MSE, 1, 1, OL_TARGET_ONEHOT);
    expect_error(ol_target_of_labels(OL_LOSS_CROSS_ENTROPY, 2, 3, &f, &err), &err,
                 "the data have 3 classes but the model has 2 outputs");
    expect_error(ol_target_of_labels(OL_LOSS_MSE, 1, 2, &f, &err), &err,
                 "mse on class labels needs one output per class (2), the model has 1");
    expect_error(ol_target_of_labels(OL_LOSS_BCE, 3, 2, &f, &err), &err,
                 "bce on class labels needs one output per class (2), the model has 3");
    expect_error(ol_target_of_labels(OL_LOSS_MSE, 3, 0, &f, &err), &err, "no class labels");
}

static void given(ol_loss_kind k, int64_t n, int64_t out, int ndim, int64_t s0, int64_t s1,
                  int64_t len, int want, const char *msg) {
    ol_error err = {{0}};
    ol_target_form form = (ol_target_form)-1;
    ol_tensor t;
    const int64_t shape[2] = {s0, s1};
    if (ndim) assert_int_equal(ol_tensor_zeros(&t, OL_F64, ndim, shape, &err), 0);
    const int rc = ol_target_of_given(k, n, out, ndim ? &t : NULL, len, &form, &err);
    if (ndim) ol_tensor_release(&t);
    if (msg) {
        expect_error(rc, &err, msg);
        return;
    }
    if (rc) fail_msg("%s: %s", ol_loss_name(k), err.msg);
    assert_int_equal(form, want);
}

static void test_rule_for_given_targets(void **state) {
    (void)state;
    const ol_loss_kind CE = OL_LOSS_CROSS_ENTROPY, MSE = OL_LOSS_MSE, BCE = OL_LOSS_BCE;
    /* class ids: a list, n values, n x 1 */
    given(CE, 5, 3, 0, 0, 0, 5, OL_TARGET_IDS, NULL);
    given(CE, 5, 3, 1, 5, 0, 0, OL_TARGET_IDS, NULL);
    given(CE, 5, 3, 2, 5, 1, 0, OL_TARGET_IDS, NULL);
    given(CE, 5, 1, 1, 5, 0, 0, OL_TARGET_IDS, NULL); /* one output: n values are ids */
    /* values like the output */
    given(CE, 5, 3, 2, 5, 3, 0, OL_TARGET_DENSE, NULL);
    given(CE, 5, 1, 2, 5, 1, 0, OL_TARGET_DENSE, NULL); /* n x 1 of one output: values */
    given(MSE, 5, 3, 2, 5, 3, 0, OL_TARGET_DENSE, NULL);
    given(BCE, 5, 1, 1, 5, 0, 0, OL_TARGET_DENSE, NULL);
    given(BCE, 5, 1, 2, 5, 1, 0, OL_TARGET_DENSE, NULL);
    /* neither */
    given(CE, 5, 3, 0, 0, 0, 2, 0, "wrong target shape: 2 class ids for a batch of 5");
    given(MSE, 5, 3, 0, 0, 0, 5, 0, "mse needs a 5x3 tensor target");
    given(CE, 5, 3, 2, 4, 3, 0, 0,
          "wrong target shape: 4x3; cross_entropy takes 5 class ids or a 5x3 one-hot matrix");
    given(MSE, 5, 3, 2, 5, 2, 0, 0, "wrong target shape: 5x2; mse takes a 5x3 target like the output");
    given(MSE, 5, 3, 1, 5, 0, 0, 0, "wrong target shape: 5; mse takes a 5x3 target like the output");
    given(BCE, 5, 2, 2, 5, 1, 0, 0, "wrong target shape: 5x1; bce takes a 5x2 target like the output");
}

static void test_class_ids(void **state) {
    (void)state;
    ol_error err = {{0}};
    int32_t id = -9;
    assert_int_equal(ol_target_class_id(1, 0, 3, &id, &err), 0);
    assert_int_equal(id, 0);
    assert_int_equal(ol_target_class_id(3, 0, 3, &id, &err), 0);
    assert_int_equal(id, 2);
    expect_error(ol_target_class_id(4, 4, 3, &id, &err), &err, "class id 4 out of range 1..3 (row 5)");
    expect_error(ol_target_class_id(0, 0, 3, &id, &err), &err, "class id 0 out of range 1..3 (row 1)");
    expect_error(ol_target_class_id(1.5, 1, 3, &id, &err), &err, "class id 1.5 out of range");
    expect_error(ol_target_class_id(NAN, 1, 3, &id, &err), &err, "out of range");
    assert_int_equal(id, 2); /* untouched by the failures */
}

/* ---- the correct count ---- */

/* A model whose output is its input: one linear layer of identity weights
 * and zero biases, c -> c. */
static ol_model *identity_model(int64_t c, ol_dtype dt) {
    ol_error err;
    ol_layer_spec s = {.kind = OL_LAYER_LINEAR, .in = c, .out = c};
    ol_model *m = ol_model_new(&s, 1, dt, &err);
    assert_non_null(m);
    ol_tensor w;
    ol_model_params(m, &w);
    for (int64_t i = 0; i < c; i++) {
        int64_t at = i * c + i; /* weight (out x in), then the zero bias */
        if (dt == OL_F32) ((float *)ol_tensor_data(&w))[at] = 1;
        else ((double *)ol_tensor_data(&w))[at] = 1;
    }
    ol_tensor_release(&w);
    return m;
}

/* Rows of small whole values, so that rows hold ties; counted at 1 thread
 * and at 2 (cut from 512 rows), in f32 and f64, against a count made here:
 * the first of the largest values wins. With one output and two classes,
 * a prediction is class 2 when the output is above 0. (The outputs are
 * the inputs exactly: each is x_j * 1 plus products with 0.) */
static void test_count_correct(void **state) {
    (void)state;
    const int64_t n = 1000, c = 4;
    double *x = malloc(sizeof *x * (size_t)(n * c)), *x1 = malloc(sizeof *x1 * (size_t)n);
    int32_t *y = malloc(sizeof *y * (size_t)n), *y2 = malloc(sizeof *y2 * (size_t)n);
    int64_t want = 0, want2 = 0;
    ol_rng_seed(3);
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        double top = -INFINITY;
        for (int64_t j = 0; j < c; j++) {
            const double v = (i + j) % 7 == 0 ? -5 : (double)ol_rng_below(3);
            x[i * c + j] = v;
            if (v > top) top = v, best = j;
        }
        y[i] = 1 + (int32_t)ol_rng_below((uint64_t)c);
        want += best == y[i] - 1;
        x1[i] = (double)ol_rng_below(3) - 1; /* -1, 0, 1 */
        y2[i] = 1 + (int32_t)ol_rng_below(2);
        want2 += (x1[i] > 0) == (y2[i] - 1);
    }
    assert_true(want > 0 && want < n && want2 > 0 && want2 < n);
    ol_error err;
    ol_dataset *ds = ol_dataset_new(OL_DS_F64, n, c, x, 1, y, (int32_t)c, &err);
    ol_dataset *ds2 = ol_dataset_new(OL_DS_F64, n, 1, x1, 1, y2, 2, &err);
    assert_true(ds && ds2);
    int64_t *idx = malloc(sizeof *idx * (size_t)n);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    for (int threads = 1; threads <= 2; threads++) {
        ol_set_threads(threads);
        for (int k = 0; k < 2; k++) {
            const ol_dtype dt = k ? OL_F64 : OL_F32;
            ol_model *m = identity_model(c, dt), *m1 = identity_model(1, dt);
            ol_batch b, b1;
            assert_int_equal(ol_batch_init(&b, ds, n, dt, &err), 0);
            assert_int_equal(ol_batch_init(&b1, ds2, n, dt, &err), 0);
            assert_int_equal(ol_batch_set_target(&b1, OL_TARGET_BINARY, 1, &err), 0);
            ol_batch_gather(&b, ds, idx, n, NULL, 0);
            ol_batch_gather(&b1, ds2, idx, n, NULL, 0);
            assert_int_equal(ol_model_forward(m, b.x, n, &err), 0);
            assert_int_equal(ol_model_forward(m1, b1.x, n, &err), 0);
            assert_int_equal(ol_count_correct(m, &b), want);
            assert_int_equal(ol_count_correct(m1, &b1), want2);
            ol_batch_free(&b);
            ol_batch_free(&b1);
            ol_model_free(m);
            ol_model_free(m1);
        }
    }
    ol_set_threads(1);
    free(idx);
    ol_dataset_free(ds);
    ol_dataset_free(ds2);
}

/* ---- labels read once per batch ---- */

#define N 48
#define D 5
#define C 3

typedef struct run_log {
    ol_dataset *ds;
    int32_t labels[N];  /* the true labels */
    int scramble_in_step; /* scramble from before_step to on_batch */
    double loss[64], acc[64];
    int steps;
} run_log;

/* Label c becomes c + 1, the last the first. */
static void scramble(run_log *r) {
    for (int64_t i = 0; i < N; i++) r->ds->st->y[i] = 1 + r->labels[i] % r->ds->classes;
}

static void restore(run_log *r) {
    memcpy(r->ds->st->y, r->labels, sizeof r->labels);
}

static int before_step(void *ctx, const ol_train_state *s, int64_t t) {
    (void)s;
    (void)t;
    run_log *r = ctx;
    if (r->scramble_in_step) scramble(r);
    return 0;
}

static int on_batch(void *ctx, const ol_train_state *s) {
    run_log *r = ctx;
    if (r->scramble_in_step) restore(r);
    if (r->steps < 64) {
        r->loss[r->steps] = s->loss;
        r->acc[r->steps] = s->accuracy;
    }
    r->steps++;
    return 0;
}

/* Trains a fresh model 3 epochs on ds (seeded), labels scrambled: never,
 * within each step, or throughout; returns the weights (malloc'd). */
static void *train(ol_dataset *ds, ol_loss_kind loss, int64_t out, const char *optim,
                   int mode, run_log *log, size_t *bytes) {
    ol_error err;
    memset(log, 0, sizeof *log);
    log->ds = ds;
    memcpy(log->labels, ds->st->y, sizeof log->labels);
    log->scramble_in_step = mode == 1;
    if (mode == 2) scramble(log);
    ol_rng_seed(11);
    ol_layer_spec s[] = {{.kind = OL_LAYER_LINEAR, .in = D, .out = 6},
                         {.kind = OL_LAYER_ACT, .act = OL_ACT_TANH},
                         {.kind = OL_LAYER_LINEAR, .in = 6, .out = out}};
    ol_model *m = ol_model_new(s, 3, OL_F64, &err);
    assert_non_null(m);
    assert_int_equal(ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "tanh", &err), 0);
    ol_loader l;
    assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 7, .shuffle = 1}, &err), 0);
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(optim), OL_F64, ol_model_nparams(m), &err), 0);
    ol_train_config c = {.model = m, .opt = &opt, .loader = &l, .loss = *OL_LOSS_PLAIN(loss), .epochs = 3,
                         .every = 1, .ctx = log, .before_step = before_step, .on_batch = on_batch};
    if (ol_train_run(&c, NULL, &err)) fail_msg("ol_train_run: %s", err.msg);
    if (mode == 2) restore(log);
    ol_tensor w;
    ol_model_params(m, &w);
    *bytes = (size_t)ol_tensor_numel(&w) * sizeof(double);
    void *copy = malloc(*bytes);
    memcpy(copy, ol_tensor_data(&w), *bytes);
    ol_tensor_release(&w);
    ol_optim_free(&opt);
    ol_loader_free(&l);
    ol_model_free(m);
    return copy;
}

static void test_labels_read_once(void **state) {
    (void)state;
    const struct {
        ol_loss_kind loss;
        int64_t out;
        int32_t classes;
        const char *optim;
    } cases[] = {
        {OL_LOSS_CROSS_ENTROPY, C, C, "sgd"}, /* class ids */
        {OL_LOSS_MSE, C, C, "nag"},           /* one-hot rows; a lookahead */
        {OL_LOSS_BCE, 1, 2, "adam"},          /* one value per row */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const int32_t classes = cases[k].classes;
        double *x = malloc(sizeof *x * N * D);
        int32_t *y = malloc(sizeof *y * N);
        ol_rng_seed(5);
        for (int64_t i = 0; i < N; i++) {
            y[i] = 1 + (int32_t)(i % classes);
            for (int64_t j = 0; j < D; j++) x[i * D + j] = ol_rng_normal() + (j == y[i] - 1);
        }
        ol_error err;
        ol_dataset *ds = ol_dataset_new(OL_DS_F64, N, D, x, 1, y, classes, &err);
        assert_non_null(ds);
        run_log plain, within, throughout;
        size_t bytes;
        void *w0 = train(ds, cases[k].loss, cases[k].out, cases[k].optim, 0, &plain, &bytes);
        void *w1 = train(ds, cases[k].loss, cases[k].out, cases[k].optim, 1, &within, &bytes);
        void *w2 = train(ds, cases[k].loss, cases[k].out, cases[k].optim, 2, &throughout, &bytes);
        const char *name = ol_loss_name(cases[k].loss);
        assert_int_equal(plain.steps, 3 * ((N + 6) / 7));
        assert_int_equal(within.steps, plain.steps);
        if (memcmp(plain.loss, within.loss, sizeof plain.loss) ||
            memcmp(plain.acc, within.acc, sizeof plain.acc) || memcmp(w0, w1, bytes))
            fail_msg("%s: labels scrambled after the batch was made changed the run", name);
        if (!memcmp(plain.loss, throughout.loss, sizeof plain.loss) || !memcmp(w0, w2, bytes))
            fail_msg("%s: scrambled labels do not change the run", name);
        free(w0);
        free(w1);
        free(w2);

        /* Evaluation's figures against a count made here. */
        ol_rng_seed(11);
        ol_layer_spec s[] = {{.kind = OL_LAYER_LINEAR, .in = D, .out = cases[k].out}};
        ol_model *m = ol_model_new(s, 1, OL_F64, &err);
        assert_int_equal(ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "linear", &err), 0);
        double mean, acc;
        assert_int_equal(ol_train_evaluate(m, ds, OL_LOSS_PLAIN(cases[k].loss), 10, &mean, &acc, &err), 0);
        int64_t rows, correct = 0;
        assert_int_equal(ol_model_forward(m, x, N, &err), 0);
        const double *out = ol_model_output(m, &rows);
        for (int64_t i = 0; i < N; i++) {
            int64_t pred = 0;
            if (cases[k].out == 1) pred = out[i] > 0;
            else
                for (int64_t j = 1; j < cases[k].out; j++)
                    if (out[i * cases[k].out + j] > out[i * cases[k].out + pred]) pred = j;
            correct += pred == y[i] - 1;
        }
        assert_true(isfinite(mean));
        assert_true(acc == (double)correct / N);
        ol_model_free(m);
        ol_dataset_free(ds);
    }
}

/* With class weights, cross_entropy's mean over a data set divides by the
 * sum of the rows' class weights (torch's weighted mean), whatever the
 * chunks it is read in: chunks of 7 rows give the loss of the whole set as
 * one batch. */
static void test_weighted_mean_over_chunks(void **state) {
    (void)state;
    enum { NR = 50, ND = 3, NC = 3 };
    double x[NR * ND];
    int32_t y[NR], ids[NR];
    ol_rng_seed(9);
    for (int i = 0; i < NR; i++) {
        y[i] = 1 + (int32_t)ol_rng_below(NC);
        ids[i] = y[i] - 1;
        for (int j = 0; j < ND; j++) x[i * ND + j] = ol_rng_normal();
    }
    ol_error err;
    double *xc = malloc(sizeof x); /* the data set takes them */
    int32_t *yc = malloc(sizeof y);
    assert_true(xc && yc);
    memcpy(xc, x, sizeof x);
    memcpy(yc, y, sizeof y);
    ol_dataset *ds = ol_dataset_new(OL_DS_F64, NR, ND, xc, 1, yc, NC, &err);
    assert_non_null(ds);
    ol_layer_spec s[] = {{.kind = OL_LAYER_LINEAR, .in = ND, .out = NC}};
    ol_model *m = ol_model_new(s, 1, OL_F64, &err);
    assert_non_null(m);
    assert_int_equal(ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "linear", &err), 0);
    const double w[NC] = {1, 2, 0.5};
    const ol_loss_spec l = {OL_LOSS_CROSS_ENTROPY, 0.1, w, NC, 1};
    double whole, chunked, acc;
    const ol_target t = {ids, NULL};
    assert_int_equal(ol_model_forward(m, x, NR, &err), 0);
    assert_int_equal(ol_model_loss(m, &l, &t, &whole, &err), 0);
    assert_int_equal(ol_train_evaluate(m, ds, &l, 7, &chunked, &acc, &err), 0);
    assert_true(fabs(chunked - whole) <= 1e-13 * whole);
    /* a weight of 0 for a class leaves its rows out of the mean */
    const double w0[NC] = {1, 0, 1};
    const ol_loss_spec l0 = {OL_LOSS_CROSS_ENTROPY, 0, w0, NC, 1};
    assert_int_equal(ol_model_forward(m, x, NR, &err), 0); /* evaluate's chunks ran since */
    assert_int_equal(ol_model_loss(m, &l0, &t, &whole, &err), 0);
    assert_int_equal(ol_train_evaluate(m, ds, &l0, 7, &chunked, &acc, &err), 0);
    assert_true(fabs(chunked - whole) <= 1e-13 * whole);
    ol_model_free(m);
    ol_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_for_labels),
        cmocka_unit_test(test_rule_for_given_targets),
        cmocka_unit_test(test_class_ids),
        cmocka_unit_test(test_count_correct),
        cmocka_unit_test(test_labels_read_once),
        cmocka_unit_test(test_weighted_mean_over_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
