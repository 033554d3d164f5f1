/* An optimizer in a checkpoint: ol_optim_export writes the optimizer's part
 * of a file (the layout is in optim.h), ol_optim_read reads it back and
 * checks it on its own, ol_optim_import puts it into an instance. A file
 * may come from anywhere, so every value read is checked before it is
 * used, and an import changes nothing unless all of it fits. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "optim/optim.h"

/* Steps a checkpoint may have taken: t + 1 stays exact in a double, which
 * the kernels' bias corrections compute with. */
#define MAX_STEPS ((int64_t)1 << 53)

#define CK "checkpoint '%.80s'"

/* "optim.state.exp_avg" */
static void state_key(const ol_optim_desc *d, int i, char *buf, size_t size) {
    snprintf(buf, size, "optim.state.%s", d->state_names[i]);
}

/* ---- writing ---- */

/* One option's stored value: a number (inf/nan as strings), a boolean, an
 * enum choice's name, a pair as [a, b]. */
static json_t *option_json(const ol_optim_option *op, const double *v) {
    switch (op->type) {
    case OL_OPT_BOOL: return json_boolean(v[0] != 0);
    case OL_OPT_ENUM: return json_string(op->choices[(int)v[0]]);
    case OL_OPT_PAIR: {
        json_t *a = json_array();
        if (a && (json_array_append_new(a, ol_ck_json_double(v[0])) ||
                  json_array_append_new(a, ol_ck_json_double(v[1])))) {
            json_decref(a);
            return NULL;
        }
        return a;
    }
    case OL_OPT_NUMBER: break;
    }
    return ol_ck_json_double(v[0]);
}

int ol_optim_export(const ol_optim *opt, struct ol_checkpoint *ck, ol_error *err) {
    const ol_optim_desc *d = opt->desc;
    char key[128];
    for (int i = 0; i < d->nstate; i++) {
        state_key(d, i, key, sizeof key);
        ol_error e;
        if (ol_ck_add(ck, key, &opt->state[i], &e))
            return ol_fail(err, "optimizer state '%s': %s", key, e.msg);
    }
    if (ol_ck_set_meta(ck, "optim.name", d->name, err) ||
        ol_ck_set_meta(ck, "optim.dtype", ol_dtype_name(opt->dtype), err))
        return -1;
    snprintf(key, sizeof key, "%lld", (long long)opt->t);
    if (ol_ck_set_meta(ck, "optim.t", key, err)) return -1;
    json_t *opts = json_object();
    for (int i = 0; i < d->noptions && opts; i++) {
        const ol_optim_option *op = &d->options[i];
        if (json_object_set_new(opts, op->name, option_json(op, opt->o + op->slot))) {
            json_decref(opts);
            opts = NULL;
        }
    }
    if (ol_ck_set_meta_json(ck, "optim.options", opts, err)) return -1;
    if (ol_optim_has_modes(opt) && ol_ck_set_meta(ck, "optim.mode", ol_optim_mode_name(opt), err))
        return -1;
    json_t *sc = json_array();
    for (int i = 0; i < d->nscalars && sc; i++)
        if (json_array_append_new(sc, ol_ck_json_double(opt->scalars[i]))) {
            json_decref(sc);
            sc = NULL;
        }
    return ol_ck_set_meta_json(ck, "optim.scalars", sc, err);
}

/* ---- reading ---- */

/* optim.t: decimal digits only, at most MAX_STEPS. */
static int read_steps(const struct ol_checkpoint *ck, int64_t *t, ol_error *err) {
    const char *s = ol_ck_get_meta(ck, "optim.t");
    char *end = NULL;
    errno = 0;
    long long v = s && s[0] >= '0' && s[0] <= '9' ? strtoll(s, &end, 10) : -1;
    if (!s || v < 0 || *end || errno)
        return ol_fail(err, CK ": metadata 'optim.t' is not a step count", ol_ck_name(ck));
    if (v > MAX_STEPS)
        return ol_fail(err, CK ": step count %lld is beyond 2^53", ol_ck_name(ck), v);
    *t = (int64_t)v;
    return 0;
}

/* One stored option value into v (v[0], and v[1] for a pair). */
static int option_value(const ol_optim_option *op, const json_t *j, double *v) {
    switch (op->type) {
    case OL_OPT_NUMBER: return ol_ck_json_to_double(j, &v[0]);
    case OL_OPT_BOOL:
        if (!json_is_boolean(j)) return -1;
        v[0] = json_is_true(j);
        return 0;
    case OL_OPT_ENUM: {
        int k = json_is_string(j) ? ol_optim_enum_index(op, json_string_value(j)) : -1;
        v[0] = k;
        return k < 0 ? -1 : 0;
    }
    case OL_OPT_PAIR:
        if (!json_is_array(j) || json_array_size(j) != 2) return -1;
        for (size_t e = 0; e < 2; e++)
            if (ol_ck_json_to_double(json_array_get(j, e), &v[e])) return -1;
        return 0;
    }
    return -1;
}

/* optim.options over the defaults, each checked, then the rules. */
static int read_options(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err) {
    const ol_optim_desc *d = s->desc;
    ol_optim_defaults(d, s->o);
    json_t *j;
    if (ol_ck_get_meta_json(ck, "optim.options", &j, err)) return -1;
    if (!json_is_object(j)) {
        json_decref(j);
        return ol_fail(err, CK ": metadata 'optim.options' missing or malformed", ol_ck_name(ck));
    }
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        const ol_optim_option *op = ol_optim_find_option(d, k);
        double x[2] = {0, 0};
        if (!op) {
            rc = ol_fail(err, CK ": option '%.40s' is unknown to %s", ol_ck_name(ck), k, d->name);
        } else if (option_value(op, v, x)) {
            rc = ol_fail(err, CK ": option '%s' has a bad value", ol_ck_name(ck), k);
        } else {
            memcpy(s->o + op->slot, x, sizeof(double) * (size_t)ol_optim_option_size(op));
            s->stored[op - d->options] = 1;
        }
        if (rc) break;
    }
    json_decref(j);
    ol_error e;
    if (rc == 0 && ol_optim_check_values(d, s->o, &e))
        rc = ol_fail(err, CK ": %s", ol_ck_name(ck), e.msg);
    return rc;
}

static int read_scalars(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err) {
    const ol_optim_desc *d = s->desc;
    json_t *j;
    if (ol_ck_get_meta_json(ck, "optim.scalars", &j, err)) return -1;
    int rc = 0;
    if (!json_is_array(j))
        rc = ol_fail(err, CK ": metadata 'optim.scalars' missing or malformed", ol_ck_name(ck));
    else if (json_array_size(j) != (size_t)d->nscalars)
        rc = ol_fail(err, CK " has %zu optimizer scalars, %s keeps %d", ol_ck_name(ck),
                     json_array_size(j), d->name, d->nscalars);
    for (int i = 0; rc == 0 && i < d->nscalars; i++)
        if (ol_ck_json_to_double(json_array_get(j, (size_t)i), &s->scalars[i]))
            rc = ol_fail(err, CK ": optim.scalars[%d] is not a number", ol_ck_name(ck), i + 1);
    json_decref(j);
    return rc;
}

/* The index of the first non-finite element of t (contiguous), or -1. */
static int64_t first_nonfinite(const ol_tensor *t) {
    const int64_t n = ol_tensor_numel(t);
    if (t->dtype == OL_F32) {
        const float *p = ol_tensor_data(t);
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(p[i])) return i;
    } else {
        const double *p = ol_tensor_data(t);
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(p[i])) return i;
    }
    return -1;
}

static int read_state(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err) {
    const ol_optim_desc *d = s->desc;
    char key[128];
    s->n = -1;
    for (int i = 0; i < d->nstate; i++) {
        state_key(d, i, key, sizeof key);
        const ol_tensor *t = ol_ck_find(ck, key);
        if (!t) return ol_fail(err, CK " has no tensor '%s'", ol_ck_name(ck), key);
        if (t->dtype != s->dtype)
            return ol_fail(err, CK ": tensor '%s' is %s, the optimizer's state %s", ol_ck_name(ck), key,
                           ol_dtype_name(t->dtype), ol_dtype_name(s->dtype));
        if (t->ndim != 1 || (s->n >= 0 && t->shape[0] != s->n)) {
            char a[64];
            return ol_fail(err, CK ": tensor '%s' is %s; the state tensors are vectors of one length",
                           ol_ck_name(ck), key, ol_shape_str(t, a, sizeof a));
        }
        s->n = t->shape[0];
        int64_t bad = first_nonfinite(t);
        if (bad >= 0)
            return ol_fail(err, CK ": tensor '%s' holds a non-finite value at element %lld",
                           ol_ck_name(ck), key, (long long)bad + 1);
        s->state[i] = t;
    }
    return 0;
}

/* optim.mode: absent (train), "train", or "eval" for an optimizer with modes. */
static int read_mode(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err) {
    const char *m = ol_ck_get_meta(ck, "optim.mode");
    if (!m || strcmp(m, "train") == 0) return 0;
    if (strcmp(m, "eval") != 0)
        return ol_fail(err, CK ": metadata 'optim.mode' is not \"train\" or \"eval\"", ol_ck_name(ck));
    if (!s->desc->to_eval_f32)
        return ol_fail(err, CK ": metadata 'optim.mode' is \"eval\", but %s has no modes",
                       ol_ck_name(ck), s->desc->name);
    s->eval_mode = 1;
    return 0;
}

int ol_optim_read(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err) {
    memset(s, 0, sizeof *s);
    const char *name = ol_ck_get_meta(ck, "optim.name");
    if (!name) return 1;
    s->desc = ol_optim_find(name);
    if (!s->desc)
        return ol_fail(err, CK " holds a '%.40s' optimizer, which optlua does not know",
                       ol_ck_name(ck), name);
    if (s->desc->noptions > OL_OPTIM_MAXSLOTS)
        return ol_fail(err, "optimizer '%s' exceeds the interface limits", name);
    const char *dt = ol_ck_get_meta(ck, "optim.dtype");
    if (read_steps(ck, &s->t, err)) return -1;
    if (!dt || ol_dtype_parse(dt, &s->dtype))
        return ol_fail(err, CK ": metadata 'optim.dtype' is not f32 or f64", ol_ck_name(ck));
    if (read_options(ck, s, err) || read_scalars(ck, s, err) || read_state(ck, s, err) ||
        read_mode(ck, s, err))
        return -1;
    return 0;
}

int ol_optim_import(ol_optim *opt, const struct ol_checkpoint *ck, ol_error *err) {
    const ol_optim_desc *d = opt->desc;
    const char *name = ol_ck_get_meta(ck, "optim.name");
    if (!name) return ol_fail(err, CK " holds no optimizer", ol_ck_name(ck));
    if (strcmp(name, d->name) != 0)
        return ol_fail(err, CK " holds a %.40s optimizer, not %s", ol_ck_name(ck), name, d->name);
    ol_optim_saved s;
    if (ol_optim_read(ck, &s, err)) return -1;
    if (s.dtype != opt->dtype)
        return ol_fail(err, CK " holds an optimizer working in %s, this one works in %s",
                       ol_ck_name(ck), ol_dtype_name(s.dtype), ol_dtype_name(opt->dtype));
    if (d->nstate > 0 && s.n != opt->n)
        return ol_fail(err, CK " holds optimizer state for %lld parameters, this optimizer has %lld",
                       ol_ck_name(ck), (long long)s.n, (long long)opt->n);
    /* The stored options over the live ones, checked as a whole. */
    double o[OL_OPTIM_MAXSLOTS];
    memcpy(o, opt->o, sizeof o);
    for (int i = 0; i < d->noptions; i++) {
        const ol_optim_option *op = &d->options[i];
        if (s.stored[i])
            memcpy(o + op->slot, s.o + op->slot, sizeof(double) * (size_t)ol_optim_option_size(op));
    }
    ol_error e;
    if (ol_optim_check_values(d, o, &e)) return ol_fail(err, CK ": %s", ol_ck_name(ck), e.msg);
    /* Everything fits: a reset drops a closure method's memory, then the
     * stored values replace the rest. */
    ol_optim_reset(opt);
    for (int i = 0; i < d->nstate; i++)
        if (ol_tensor_copy_(&opt->state[i], s.state[i], err)) return -1;
    memcpy(opt->o, o, sizeof o);
    memcpy(opt->scalars, s.scalars, sizeof opt->scalars);
    opt->t = s.t;
    opt->eval_mode = s.eval_mode;
    return 0;
}
