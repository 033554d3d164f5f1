/* Weight averaging (average.h): ema and swa over a flat weight vector,
 * their passes written once for float and double (the #else part below),
 * and their part of a checkpoint.
 *
 * Sources: the warm-up form is the num_updates form of TensorFlow's
 * tf.train.ExponentialMovingAverage; the equal average and its counting
 * are torch.optim.swa_utils.AveragedModel's (n_averaged, the default
 * avg_fn p_avg + (p − p_avg)/(n_averaged + 1), the first counted update a
 * copy); the copy at construction as AveragedModel and timm's ModelEmaV2. */
#ifndef OL_GENERIC
#include "optim/average.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "core/reduce.h"
#include "io/checkpoint.h"
#include "optim/optim.h"

/* The passes below (#else), read once for float and once for double. */
#define OL_GENERIC "optim/average.c"
#include "core/generic.h"

int ol_average_of(const ol_average *a, const ol_tensor *w) {
    return ol_tensor_data(&a->w) == ol_tensor_data(w) && ol_tensor_numel(&a->w) == ol_tensor_numel(w) &&
           a->w.dtype == w->dtype;
}

const char *ol_average_kind_name(ol_average_kind k) {
    return k == OL_AVERAGE_EMA ? "ema" : "swa";
}

/* Counts in a checkpoint stay exact in a double, as the optimizer's do. */
#define MAX_COUNT ((int64_t)1 << 53)

static int check_ema(double decay, ol_error *err) {
    if (!(decay >= 0 && decay < 1)) return ol_fail(err, "option 'decay' must be in [0, 1), got %g", decay);
    return 0;
}

static int check_swa(int64_t start, int64_t every, ol_error *err) {
    if (start < 0 || start > MAX_COUNT)
        return ol_fail(err, "option 'start' must be an integer in 0..2^53, got %lld", (long long)start);
    if (every < 1 || every > MAX_COUNT)
        return ol_fail(err, "option 'every' must be an integer in 1..2^53, got %lld", (long long)every);
    return 0;
}

static int init_common(ol_average *a, const ol_tensor *w, ol_error *err) {
    memset(a, 0, sizeof *a);
    if (!ol_tensor_is_contiguous(w)) return ol_fail(err, "the weights must be contiguous");
    if (ol_tensor_clone(w, &a->e, err)) return -1;
    ol_tensor_share(w, &a->w);
    return 0;
}

int ol_average_init_ema(ol_average *a, const ol_tensor *w, double decay, int warmup, ol_error *err) {
    memset(a, 0, sizeof *a);
    if (check_ema(decay, err) || init_common(a, w, err)) return -1;
    a->kind = OL_AVERAGE_EMA;
    a->decay = decay;
    a->warmup = warmup != 0;
    return 0;
}

int ol_average_init_swa(ol_average *a, const ol_tensor *w, int64_t start, int64_t every, ol_error *err) {
    memset(a, 0, sizeof *a);
    if (check_swa(start, every, err) || init_common(a, w, err)) return -1;
    a->kind = OL_AVERAGE_SWA;
    a->start = start;
    a->every = every;
    a->n = start == 0; /* the weights at step 0 are counted: e holds them */
    return 0;
}

void ol_average_free(ol_average *a) {
    ol_tensor_release(&a->w);
    ol_tensor_release(&a->e);
    memset(a, 0, sizeof *a);
}

double ol_average_next_decay(const ol_average *a) {
    if (!a->warmup) return a->decay;
    const double t = (double)a->t, d = (1 + t) / (10 + t);
    return d < a->decay ? d : a->decay;
}

/* ---- the passes, cut among the threads as a fused optimizer step ---- */

enum { PASS_EMA, PASS_SWA, PASS_SWAP };

typedef struct pass {
    int op;
    double c; /* ema: 1 − d; swa: n + 1 */
    ol_dtype dt;
    void *e, *w;
} pass;

static void pass_part(void *p, int64_t begin, int64_t end, int part) {
    (void)part;
    const pass *j = p;
    const size_t off = (size_t)begin * ol_dtype_size(j->dt);
    void *e = (char *)j->e + off, *w = (char *)j->w + off;
    const int64_t n = end - begin;
    if (j->op == PASS_EMA) OL_DT_CALL(j->dt, ema_pass, e, w, j->c, n);
    else if (j->op == PASS_SWA) OL_DT_CALL(j->dt, swa_pass, e, w, j->c, n);
    else OL_DT_CALL(j->dt, swap_pass, e, w, n);
}

static void run_pass(ol_average *a, int op, double c) {
    pass j = {.op = op, .c = c, .dt = a->e.dtype, .e = ol_tensor_data(&a->e), .w = ol_tensor_data(&a->w)};
    const int64_t n = ol_tensor_numel(&a->e);
    if (ol_parallel_parts(n, OL_OPTIM_MIN_PART) < 2) pass_part(&j, 0, n, 0);
    else ol_parallel_for(n, OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, pass_part, &j);
}

void ol_average_update(ol_average *a) {
    if (a->kind == OL_AVERAGE_EMA) {
        run_pass(a, PASS_EMA, 1 - ol_average_next_decay(a));
        a->t++;
        return;
    }
    const int64_t t = ++a->t;
    if (t < a->start || (t - a->start) % a->every != 0) return;
    /* The first weights counted replace the copy made at construction:
     * the swa pass with n + 1 = 1 is e ← e + (w − e), which need not give
     * w's bits, so it is a copy. */
    if (a->n == 0)
        memcpy(ol_tensor_data(&a->e), ol_tensor_data(&a->w),
               (size_t)ol_tensor_numel(&a->e) * ol_dtype_size(a->e.dtype));
    else
        run_pass(a, PASS_SWA, (double)(a->n + 1));
    a->n++;
}

void ol_average_swap(ol_average *a) {
    run_pass(a, PASS_SWAP, 0);
}

int ol_average_copy_to(const ol_average *a, ol_tensor *dst, ol_error *err) {
    if (dst->dtype != a->e.dtype)
        return ol_fail(err, "the average is %s, the destination %s", ol_dtype_name(a->e.dtype),
                       ol_dtype_name(dst->dtype));
    if (ol_tensor_numel(dst) != ol_tensor_numel(&a->e))
        return ol_fail(err, "the average has %lld weights, the destination %lld",
                       (long long)ol_tensor_numel(&a->e), (long long)ol_tensor_numel(dst));
    if (!ol_tensor_is_contiguous(dst)) return ol_fail(err, "the destination must be contiguous");
    memmove(ol_tensor_data(dst), ol_tensor_data(&a->e), (size_t)ol_tensor_numel(dst) * ol_dtype_size(dst->dtype));
    return 0;
}

/* ---- in a checkpoint ---- */

#define CK "checkpoint '%.80s'"

static int set_count(struct ol_checkpoint *ck, const char *key, int64_t v, ol_error *err) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return ol_ck_set_meta(ck, key, buf, err);
}

int ol_average_export(const ol_average *a, struct ol_checkpoint *ck, ol_error *err) {
    ol_tensor flat = a->e;
    flat.ndim = 1;
    flat.shape[0] = ol_tensor_numel(&a->e);
    flat.stride[0] = 1;
    ol_error e;
    if (ol_ck_add(ck, "average.weights", &flat, &e)) return ol_fail(err, "average: %s", e.msg);
    json_t *o = json_object();
    if (a->kind == OL_AVERAGE_EMA) {
        json_object_set_new(o, "decay", ol_ck_json_double(a->decay));
        json_object_set_new(o, "warmup", json_boolean(a->warmup));
    } else {
        json_object_set_new(o, "start", json_integer((json_int_t)a->start));
        json_object_set_new(o, "every", json_integer((json_int_t)a->every));
    }
    if (ol_ck_set_meta(ck, "average.kind", ol_average_kind_name(a->kind), err) ||
        set_count(ck, "average.t", a->t, err) || set_count(ck, "average.n", a->n, err))
    {
        json_decref(o);
        return -1;
    }
    return ol_ck_set_meta_json(ck, "average.options", o, err);
}

/* Metadata key: decimal digits only, at most MAX_COUNT. */
static int read_count(const struct ol_checkpoint *ck, const char *key, int64_t *v, ol_error *err) {
    const char *s = ol_ck_get_meta(ck, key);
    char *end = NULL;
    errno = 0;
    long long x = s && s[0] >= '0' && s[0] <= '9' ? strtoll(s, &end, 10) : -1;
    if (!s || x < 0 || *end || errno || x > MAX_COUNT)
        return ol_fail(err, CK ": metadata '%s' is not a count", ol_ck_name(ck), key);
    *v = (int64_t)x;
    return 0;
}

/* An integer option of the stored options: a JSON integer. */
static int read_int(const struct ol_checkpoint *ck, const json_t *o, const char *k, int64_t *v, ol_error *err) {
    const json_t *j = json_object_get(o, k);
    if (!json_is_integer(j))
        return ol_fail(err, CK ": average option '%s' missing or not an integer", ol_ck_name(ck), k);
    *v = (int64_t)json_integer_value(j);
    return 0;
}

static int read_options(const struct ol_checkpoint *ck, ol_average_saved *s, ol_error *err) {
    json_t *o;
    if (ol_ck_get_meta_json(ck, "average.options", &o, err)) return -1;
    int rc = 0;
    ol_error e;
    if (!json_is_object(o)) {
        rc = ol_fail(err, CK ": metadata 'average.options' missing or malformed", ol_ck_name(ck));
    } else if (s->kind == OL_AVERAGE_EMA) {
        const json_t *w = json_object_get(o, "warmup");
        if (ol_ck_json_to_double(json_object_get(o, "decay"), &s->decay) || !json_is_boolean(w))
            rc = ol_fail(err, CK ": average options 'decay' and 'warmup' missing or malformed", ol_ck_name(ck));
        else if (check_ema(s->decay, &e))
            rc = ol_fail(err, CK ": average %s", ol_ck_name(ck), e.msg);
        else
            s->warmup = json_is_true(w);
    } else {
        rc = read_int(ck, o, "start", &s->start, err) || read_int(ck, o, "every", &s->every, err) ? -1 : 0;
        if (rc == 0 && check_swa(s->start, s->every, &e))
            rc = ol_fail(err, CK ": average %s", ol_ck_name(ck), e.msg);
    }
    json_decref(o);
    return rc;
}

int ol_average_read(const struct ol_checkpoint *ck, ol_average_saved *s, ol_error *err) {
    memset(s, 0, sizeof *s);
    const char *kind = ol_ck_get_meta(ck, "average.kind");
    const ol_tensor *e = ol_ck_find(ck, "average.weights");
    if (!kind && !e) return 1;
    if (!kind || (strcmp(kind, "ema") != 0 && strcmp(kind, "swa") != 0))
        return ol_fail(err, CK ": metadata 'average.kind' is not 'ema' or 'swa'", ol_ck_name(ck));
    s->kind = strcmp(kind, "ema") == 0 ? OL_AVERAGE_EMA : OL_AVERAGE_SWA;
    if (read_count(ck, "average.t", &s->t, err) || read_count(ck, "average.n", &s->n, err) ||
        read_options(ck, s, err))
        return -1;
    if (s->kind == OL_AVERAGE_EMA ? s->n != 0 : s->n > s->t + 1)
        return ol_fail(err, CK ": average.n (%lld) does not fit average.t (%lld)", ol_ck_name(ck),
                       (long long)s->n, (long long)s->t);
    if (!e) return ol_fail(err, CK " has no tensor 'average.weights'", ol_ck_name(ck));
    if (e->ndim != 1) {
        char b[96];
        return ol_fail(err, CK ": tensor 'average.weights' is %s, not a vector", ol_ck_name(ck),
                       ol_shape_str(e, b, sizeof b));
    }
    if (!ol_all_finite(e->dtype, ol_tensor_data(e), ol_tensor_numel(e)))
        return ol_fail(err, CK ": tensor 'average.weights' holds a non-finite value", ol_ck_name(ck));
    s->e = e;
    return 0;
}

int ol_average_check_saved(const ol_average *a, const ol_average_saved *s, const char *source, ol_error *err) {
    if (s->kind != a->kind)
        return ol_fail(err, CK " holds an %s average, this one is %s", source, ol_average_kind_name(s->kind),
                       ol_average_kind_name(a->kind));
    if (s->e->dtype != a->e.dtype)
        return ol_fail(err, CK " holds an average in %s, this one is %s", source, ol_dtype_name(s->e->dtype),
                       ol_dtype_name(a->e.dtype));
    if (ol_tensor_numel(s->e) != ol_tensor_numel(&a->e))
        return ol_fail(err, CK " holds an average of %lld weights, this one has %lld", source,
                       (long long)ol_tensor_numel(s->e), (long long)ol_tensor_numel(&a->e));
    return 0;
}

void ol_average_set_saved(ol_average *a, const ol_average_saved *s) {
    a->decay = s->decay;
    a->warmup = s->warmup;
    a->start = s->start;
    a->every = s->every;
    a->t = s->t;
    a->n = s->n;
    memcpy(ol_tensor_data(&a->e), ol_tensor_data(s->e), (size_t)ol_tensor_numel(s->e) * ol_dtype_size(s->e->dtype));
}

#else /* the passes for one element type T */

/* ema: e ← e + c·(w − e), c = 1 − d in T. */
static void S(ema_pass)(void *ev, const void *wv, double c, int64_t n) {
    T *restrict e = ev;
    const T *restrict w = wv;
    const T k = (T)c;
    for (int64_t i = 0; i < n; i++) e[i] += k * (w[i] - e[i]);
}

/* swa: e ← e + (w − e)/k, k = n + 1 (divided, as AveragedModel does). */
static void S(swa_pass)(void *ev, const void *wv, double c, int64_t n) {
    T *restrict e = ev;
    const T *restrict w = wv;
    const T k = (T)c;
    for (int64_t i = 0; i < n; i++) e[i] += (w[i] - e[i]) / k;
}

static void S(swap_pass)(void *ev, void *wv, int64_t n) {
    T *restrict e = ev;
    T *restrict w = wv;
    for (int64_t i = 0; i < n; i++) {
        const T x = e[i];
        e[i] = w[i];
        w[i] = x;
    }
}

#endif
