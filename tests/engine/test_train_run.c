/* The run-level rules (train/run.h) without Lua: the checkpoint they write
 * holds the model's tensors by name, the optimizer (read back by
 * ol_optim_import with its step count) and the RNG, with meta epoch, batch,
 * step and interrupted; the cadence saves every `every_epochs` epochs, and
 * the end of the run only when that step was not just saved; early
 * stopping keeps the best epoch's weights, stops after `patience` epochs
 * without improvement and puts them back at the end; ol_run_resume reads
 * back the place (mid-epoch: the RNG as the epoch began, the sums) and
 * early stopping's record, and refuses what does not fit; the log's epoch
 * line is made at the report and written once, with the caller's fields
 * after the standard ones, and a caller's field that clashes with the log's
 * own names or is not finite is refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/checkpoint.h"
#include "train/run.h"

typedef struct fixture {
    ol_model *m;
    ol_optim opt;
    ol_tensor w, g;
    char path[64];
} fixture;

static void setup(fixture *f) {
    ol_error err;
    const ol_layer_spec specs[] = {{.kind = OL_LAYER_LINEAR, .in = 3, .out = 2},
                                   {.kind = OL_LAYER_ACT, .act = OL_ACT_TANH},
                                   {.kind = OL_LAYER_LINEAR, .in = 2, .out = 1}};
    f->m = ol_model_new(specs, 3, OL_F64, &err);
    assert_non_null(f->m);
    ol_model_params(f->m, &f->w);
    ol_model_grads(f->m, &f->g);
    for (int64_t i = 0; i < ol_model_nparams(f->m); i++) {
        ol_tensor_set(&f->w, &i, 0.1 * (double)(i + 1));
        ol_tensor_set(&f->g, &i, 0.01 * (double)(i % 3) - 0.005);
    }
    assert_int_equal(ol_optim_init(&f->opt, ol_optim_find("adam"), OL_F64, ol_model_nparams(f->m), &err), 0);
    for (int k = 0; k < 3; k++) assert_int_equal(ol_optim_step(&f->opt, &f->w, &f->g, 1.0, 0, &err), 0);
    snprintf(f->path, sizeof f->path, "/tmp/ol_run_ck_XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    close(fd);
}

static void teardown(fixture *f) {
    unlink(f->path);
    ol_optim_free(&f->opt);
    ol_tensor_release(&f->w);
    ol_tensor_release(&f->g);
    ol_model_free(f->m);
}

static void rules_for(ol_run *r, fixture *f, int64_t every_epochs) {
    ol_run_init(r);
    r->model = f->m;
    r->opt = &f->opt;
    r->ck_path = f->path;
    r->every_epochs = every_epochs;
}

static void test_save_contents(void **state) {
    (void)state;
    fixture f;
    setup(&f);
    ol_run r;
    rules_for(&r, &f, 1);
    r.epoch = 2;
    r.batch = 5;
    ol_rng_state rs;
    ol_rng_get_state(&rs);
    assert_int_equal(ol_run_save(&r, 1), 0);
    assert_int_equal(r.saved_step, 3);

    ol_checkpoint ck;
    ol_error err;
    assert_int_equal(ol_ck_load(f.path, &ck, &err), 0);
    const char *names[] = {"1.weight", "1.bias", "3.weight", "3.bias"};
    for (int k = 0; k < 4; k++) {
        const ol_tensor *t = ol_ck_find(&ck, names[k]);
        assert_non_null(t);
        ol_tensor v;
        ol_model_param_view(f.m, k, 0, &v);
        assert_int_equal(ol_tensor_numel(t), ol_tensor_numel(&v));
        assert_memory_equal(ol_tensor_data(t), ol_tensor_data(&v), (size_t)ol_tensor_numel(&v) * sizeof(double));
        ol_tensor_release(&v);
    }
    const struct { const char *k, *v; } meta[] = {
        {"epoch", "2"}, {"batch", "5"}, {"step", "3"}, {"interrupted", "true"}, {"optlua.format", "1"}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
        const char *v = ol_ck_get_meta(&ck, meta[i].k);
        assert_non_null(v);
        assert_string_equal(v, meta[i].v);
    }
    ol_rng_state back;
    assert_int_equal(ol_ck_get_rng(&ck, &back, &err), 0);
    assert_memory_equal(&back, &rs, sizeof rs);
    ol_optim o2;
    assert_int_equal(ol_optim_init(&o2, ol_optim_find("adam"), OL_F64, ol_model_nparams(f.m), &err), 0);
    assert_int_equal(ol_optim_import(&o2, &ck, &err), 0);
    assert_int_equal(o2.t, 3);
    ol_optim_free(&o2);
    ol_ck_free(&ck);
    teardown(&f);
}

static void set_weights(fixture *f, double v) {
    for (int64_t i = 0; i < ol_model_nparams(f->m); i++) ol_tensor_set(&f->w, &i, v + (double)i);
}

static void test_early_stop_and_resume(void **state) {
    (void)state;
    fixture f;
    setup(&f);
    ol_run r;
    rules_for(&r, &f, 100);
    r.early_stop = (ol_run_early_stop){.on = 1, .metric = OL_METRIC_VAL_LOSS, .patience = 2,
                                       .restore_best = 1, .best = HUGE_VAL};
    /* val_loss 0.9, 0.5 (the best, weights 2 + i), 0.7, 0.6: the second
     * epoch without improvement stops the run. */
    const double val[] = {0.9, 0.5, 0.7, 0.6};
    ol_train_state s = {.batches = 7, .batch = 7};
    for (int e = 0; e < 4; e++) {
        set_weights(&f, (double)(e + 1));
        s.epoch = e + 1;
        s.val_loss = val[e];
        assert_int_equal(ol_run_epoch_end(&r, &s), e == 3 ? 1 : 0);
        if (e == 2) { /* mid-epoch 4 (2 of its 7 batches done): a save to resume from */
            ol_train_state mid = {.epoch = 4, .batch = 2, .batches = 7, .sums = {1.5, 4, 4, 3}};
            ol_rng_get_state(&mid.epoch_rng);
            mid.epoch_rng.s[0] ^= 0x5a5a;
            assert_int_equal(ol_run_on_batch(&r, &mid), 0);
            assert_int_equal(ol_run_save(&r, 1), 0);

            ol_checkpoint ck;
            ol_error err;
            assert_int_equal(ol_ck_load(f.path, &ck, &err), 0);
            ol_run r2;
            rules_for(&r2, &f, 1);
            r2.early_stop = (ol_run_early_stop){.on = 1, .metric = OL_METRIC_VAL_LOSS, .patience = 2,
                                                .restore_best = 1, .best = HUGE_VAL};
            ol_train_resume res;
            assert_int_equal(ol_run_resume(&r2, &ck, 7, 10, &res, &err), 0);
            assert_int_equal(res.epoch, 4);
            assert_int_equal(res.batch, 2);
            assert_true(res.begun);
            assert_memory_equal(&res.epoch_rng, &mid.epoch_rng, sizeof mid.epoch_rng);
            assert_true(res.sums.loss == 1.5 && res.sums.count == 4 && res.sums.seen == 4 &&
                        res.sums.correct == 3);
            assert_true(r2.early_stop.best == 0.5);
            assert_int_equal(r2.early_stop.best_epoch, 2);
            assert_int_equal(r2.early_stop.wait, 1);
            for (int64_t i = 0; i < ol_model_nparams(f.m); i++)
                assert_true(ol_tensor_get(&r2.early_stop.best_w, &i) == 2.0 + (double)i);
            ol_run_free(&r2);
            /* What does not fit is refused, saying why. */
            rules_for(&r2, &f, 1);
            assert_int_equal(ol_run_resume(&r2, &ck, 8, 10, &res, &err), -1);
            assert_non_null(strstr(err.msg, "7 batches per epoch, this one has 8"));
            assert_int_equal(ol_run_resume(&r2, &ck, 7, 3, &res, &err), -1);
            assert_non_null(strstr(err.msg, "nothing is left to train in a run of 3 epochs"));
            r2.early_stop = (ol_run_early_stop){.on = 1, .metric = OL_METRIC_VAL_ACCURACY};
            assert_int_equal(ol_run_resume(&r2, &ck, 7, 10, &res, &err), -1);
            assert_non_null(strstr(err.msg, "stopped early on val_loss, this run on val_accuracy"));
            ol_run_free(&r2);
            ol_ck_free(&ck);
        }
    }
    assert_true(r.early_stop.stopped);
    assert_int_equal(r.early_stop.best_epoch, 2);
    /* The end puts the best epoch's weights back. */
    assert_int_equal(ol_run_finish(&r, &s), 0);
    assert_true(r.early_stop.restored);
    for (int64_t i = 0; i < ol_model_nparams(f.m); i++) assert_true(ol_tensor_get(&f.w, &i) == 2.0 + (double)i);
    /* A file without ol.train's place is not resumed. */
    ol_checkpoint plain;
    ol_error err;
    ol_ck_init(&plain);
    ol_run r3;
    rules_for(&r3, &f, 1);
    ol_train_resume res;
    assert_int_equal(ol_run_resume(&r3, &plain, 7, 10, &res, &err), -1);
    assert_non_null(strstr(err.msg, "was not written by ol.train's checkpoint option"));
    ol_ck_free(&plain);
    ol_run_free(&r);
    teardown(&f);
}

static void test_cadence(void **state) {
    (void)state;
    fixture f;
    setup(&f);
    ol_run r;
    rules_for(&r, &f, 2);
    ol_train_state s = {.epoch = 1, .batch = 4, .batches = 4};
    assert_int_equal(ol_run_epoch_end(&r, &s), 0);
    assert_int_equal(r.saved_step, -1); /* epoch 1 of every 2: not saved */
    s.epoch = 2;
    assert_int_equal(ol_run_epoch_end(&r, &s), 0);
    assert_int_equal(r.saved_step, 3);
    unlink(f.path);
    assert_int_equal(ol_run_finish(&r, &s), 0); /* that step was just saved */
    assert_int_equal(access(f.path, F_OK), -1);
    ol_error err;
    assert_int_equal(ol_optim_step(&f.opt, &f.w, &f.g, 1.0, 0, &err), 0);
    assert_int_equal(ol_run_finish(&r, &s), 0); /* a step since: saved */
    assert_int_equal(r.saved_step, 4);
    assert_int_equal(access(f.path, F_OK), 0);
    /* A failed save is reported, not hidden. */
    r.ck_path = "/nonexistent-dir/x.safetensors";
    assert_int_equal(ol_run_save(&r, 0), -1);
    assert_true(r.save_failed);
    assert_true(strlen(r.save_err.msg) > 0);
    teardown(&f);
}

/* The log's lines, read back whole. */
static void read_log(FILE *log, char *buf, size_t size) {
    rewind(log);
    size_t n = fread(buf, 1, size - 1, log);
    buf[n] = 0;
}

static void test_log_fields(void **state) {
    (void)state;
    fixture f;
    setup(&f);
    ol_run r;
    rules_for(&r, &f, 1);
    r.ck_path = NULL;
    FILE *log = tmpfile();
    assert_non_null(log);
    r.log = log;
    ol_train_state s;
    memset(&s, 0, sizeof s);
    s.epoch = 1;
    s.step = 3;
    s.epoch_loss = 0.5;
    s.loss = s.accuracy = s.epoch_accuracy = s.grad_norm = s.val_loss = s.val_accuracy = NAN;
    s.samples_per_s = s.elapsed = 1.0;
    assert_int_equal(ol_run_epoch_report(&r, &s), 0);
    char buf[1024];
    read_log(log, buf, sizeof buf);
    assert_string_equal(buf, ""); /* made, not yet written */
    ol_error err;
    assert_int_equal(ol_run_log_field_check("b_simple", 812.5, &err), 0);
    ol_run_log_field(&r, "b_simple", 812.5);
    ol_run_log_field(&r, "cos", -0.25);
    assert_int_equal(ol_run_log_epoch(&r), 0);
    assert_int_equal(ol_run_log_epoch(&r), 0); /* once */
    assert_int_equal(ol_run_epoch_end(&r, &s), 0);
    fflush(log);
    read_log(log, buf, sizeof buf);
    const char *want = "{\"event\":\"epoch\",\"epoch\":1,\"step\":3,\"batch\":0,\"samples\":0,"
                       "\"epoch_loss\":0.5,\"samples_per_s\":1.0,\"elapsed\":1.0,\"lr\":0.001,"
                       "\"momentum\":0.9,\"b_simple\":812.5,\"cos\":-0.25}\n";
    assert_string_equal(buf, want);
    /* a field added with no line made goes nowhere; the end writes a line made */
    ol_run_log_field(&r, "lost", 1);
    s.epoch = 2;
    assert_int_equal(ol_run_epoch_report(&r, &s), 0);
    assert_int_equal(ol_run_epoch_end(&r, &s), 0);
    fflush(log);
    read_log(log, buf, sizeof buf);
    assert_null(strstr(buf, "lost"));
    assert_non_null(strstr(buf, "\"epoch\":2,"));
    /* the log's own names, empty names and values that are not finite */
    const char *own[] = {"event", "epoch", "val_loss", "val_accuracy", "lr", "momentum", "val_average", "loss"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        assert_int_equal(ol_run_log_field_check(own[i], 1, &err), -1);
        assert_non_null(strstr(err.msg, "is one of the log's own fields"));
    }
    assert_int_equal(ol_run_log_field_check("", 1, &err), -1);
    assert_string_equal(err.msg, "a field's name is empty");
    assert_int_equal(ol_run_log_field_check("x", NAN, &err), -1);
    assert_string_equal(err.msg, "field 'x' is nan, not a finite number");
    assert_int_equal(ol_run_log_field_check("x", -INFINITY, &err), -1);
    assert_string_equal(err.msg, "field 'x' is -inf, not a finite number");
    /* freed unwritten on an abort */
    s.epoch = 3;
    assert_int_equal(ol_run_epoch_report(&r, &s), 0);
    ol_run_free(&r);
    assert_null(r.epoch_line);
    fclose(log);
    teardown(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_save_contents), cmocka_unit_test(test_cadence),
                                       cmocka_unit_test(test_early_stop_and_resume),
                                       cmocka_unit_test(test_log_fields)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
