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

/* {"lr": 0.001, ...}: every option of d at values o; NULL when out of memory. */
static json_t *options_json(const ol_optim_desc *d, const double *o) {
    json_t *opts = json_object();
    for (int i = 0; i < d->noptions && opts; i++) {
        const ol_optim_option *op = &d->options[i];
        if (json_object_set_new(opts, op->name, option_json(op, o + op->slot))) {
            json_decref(opts);
            opts = NULL;
        }
    }
    return opts;
}

static json_t *scalars_json(const ol_optim_desc *d, const double *v) {
    json_t *sc = json_array();
    for (int i = 0; i < d->nscalars && sc; i++)
        if (json_array_append_new(sc, ol_ck_json_double(v[i]))) {
            json_decref(sc);
            sc = NULL;
        }
    return sc;
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
    if (ol_ck_set_meta_json(ck, "optim.options", options_json(d, opt->groups[0].o), err) ||
        ol_ck_set_meta_json(ck, "optim.scalars", scalars_json(d, opt->groups[0].scalars), err))
        return -1;
    json_t *pa = json_array();
    for (int i = 0; i < opt->nparams && pa; i++) {
        const ol_optim_param *p = &opt->params[i];
        if (json_array_append_new(pa, json_pack("[IIIii]", (json_int_t)p->offset,
                                                (json_int_t)p->rows, (json_int_t)p->cols,
                                                p->matrix, p->group))) {
            json_decref(pa);
            pa = NULL;
        }
    }
    if (ol_ck_set_meta_json(ck, "optim.params", pa, err)) return -1;
    if (ol_optim_has_modes(opt) && ol_ck_set_meta(ck, "optim.mode", ol_optim_mode_name(opt), err))
        return -1;
    if (opt->ngroups == 1) return 0;
    json_t *gs = json_array();
    for (int i = 1; i < opt->ngroups && gs; i++)
        if (json_array_append_new(gs, json_pack("{s:o,s:o}", "options",
                                                options_json(d, opt->groups[i].o), "scalars",
                                                scalars_json(d, opt->groups[i].scalars)))) {
            json_decref(gs);
            gs = NULL;
        }
    return ol_ck_set_meta_json(ck, "optim.groups", gs, err);
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

/* Options j (an object) over the defaults into o, each checked, then the
 * rules; stored[i] = 1 for each option the object holds. what names j. */
static int options_from(const struct ol_checkpoint *ck, const ol_optim_desc *d, const json_t *j,
                        const char *what, double *o, unsigned char *stored, ol_error *err) {
    ol_optim_defaults(d, o);
    if (!json_is_object(j))
        return ol_fail(err, CK ": metadata '%s' missing or malformed", ol_ck_name(ck), what);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
        const ol_optim_option *op = ol_optim_find_option(d, k);
        double x[2] = {0, 0};
        if (!op)
            return ol_fail(err, CK ": option '%.40s' is unknown to %s", ol_ck_name(ck), k, d->name);
        if (option_value(op, v, x))
            return ol_fail(err, CK ": option '%s' has a bad value", ol_ck_name(ck), k);
        memcpy(o + op->slot, x, sizeof(double) * (size_t)ol_optim_option_size(op));
        if (stored) stored[op - d->options] = 1;
    }
    ol_error e;
    if (ol_optim_check_values(d, o, &e)) return ol_fail(err, CK ": %s", ol_ck_name(ck), e.msg);
    return 0;
}

static int scalars_from(const struct ol_checkpoint *ck, const ol_optim_desc *d, const json_t *j,
                        const char *what, double *v, ol_error *err) {
    if (!json_is_array(j))
        return ol_fail(err, CK ": metadata '%s' missing or malformed", ol_ck_name(ck), what);
    if (json_array_size(j) != (size_t)d->nscalars)
        return ol_fail(err, CK " has %zu optimizer scalars in '%s', %s keeps %d", ol_ck_name(ck),
                       json_array_size(j), what, d->name, d->nscalars);
    for (int i = 0; i < d->nscalars; i++)
        if (ol_ck_json_to_double(json_array_get(j, (size_t)i), &v[i]))
            return ol_fail(err, CK ": %s[%d] is not a number", ol_ck_name(ck), what, i + 1);
    return 0;
}

static int read_options(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err) {
    json_t *j;
    if (ol_ck_get_meta_json(ck, "optim.options", &j, err)) return -1;
    int rc = options_from(ck, s->desc, j, "optim.options", s->o, s->stored, err);
    json_decref(j);
    return rc;
}

static int read_scalars(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err) {
    json_t *j;
    if (ol_ck_get_meta_json(ck, "optim.scalars", &j, err)) return -1;
    int rc = scalars_from(ck, s->desc, j, "optim.scalars", s->scalars, err);
    json_decref(j);
    return rc;
}

/* Most groups and parameter tensors a file may declare: far beyond any
 * model, and a bound on what a hostile header can make us allocate. */
#define MAX_ENTRIES 65536

/* optim.groups (groups 2..G), absent for one group: s->groups[0] is group
 * 1 (optim.options, optim.scalars). */
static int read_groups(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err) {
    json_t *j;
    if (ol_ck_get_meta_json(ck, "optim.groups", &j, err)) return -1;
    const size_t extra = j ? json_array_size(j) : 0;
    int rc = 0;
    if (j && (!json_is_array(j) || extra < 1 || extra >= MAX_ENTRIES))
        rc = ol_fail(err, CK ": metadata 'optim.groups' is malformed", ol_ck_name(ck));
    else if (!(s->groups = calloc(extra + 1, sizeof *s->groups)))
        rc = ol_fail(err, "out of memory for %zu optimizer groups", extra + 1);
    if (rc == 0) {
        s->ngroups = (int)extra + 1;
        memcpy(s->groups[0].o, s->o, sizeof s->o);
        memcpy(s->groups[0].scalars, s->scalars, sizeof s->scalars);
    }
    for (size_t i = 0; rc == 0 && i < extra; i++) {
        const json_t *g = json_array_get(j, i);
        char what[64];
        snprintf(what, sizeof what, "optim.groups[%zu].options", i + 1);
        rc = options_from(ck, s->desc, json_object_get(g, "options"), what, s->groups[i + 1].o,
                          NULL, err);
        snprintf(what, sizeof what, "optim.groups[%zu].scalars", i + 1);
        if (rc == 0)
            rc = scalars_from(ck, s->desc, json_object_get(g, "scalars"), what,
                              s->groups[i + 1].scalars, err);
    }
    json_decref(j);
    return rc;
}

/* optim.params: [[offset, rows, cols, matrix, group], ...], absent in files
 * written before parameter tensors were stored (nparams = -1). */
static int read_params(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err) {
    json_t *j;
    s->nparams = -1;
    if (ol_ck_get_meta_json(ck, "optim.params", &j, err)) return -1;
    if (!j) return 0;
    const size_t n = json_array_size(j);
    int rc = 0;
    if (!json_is_array(j) || n >= MAX_ENTRIES)
        rc = ol_fail(err, CK ": metadata 'optim.params' is malformed", ol_ck_name(ck));
    else if (!(s->params = calloc(n + 1, sizeof *s->params)))
        rc = ol_fail(err, "out of memory for %zu parameter tensors", n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_int_t v[5];
        const json_t *e = json_array_get(j, i);
        int ok = json_is_array(e) && json_array_size(e) == 5;
        for (size_t k = 0; ok && k < 5; k++) {
            ok = json_is_integer(json_array_get(e, k));
            v[k] = ok ? json_integer_value(json_array_get(e, k)) : 0;
        }
        if (!ok || v[0] < 0 || v[1] < 1 || v[2] < 1 || (v[3] != 0 && v[3] != 1) || v[4] < 0 ||
            v[4] >= s->ngroups)
            rc = ol_fail(err, CK ": optim.params[%zu] is not a parameter tensor of the stored "
                         "groups", ol_ck_name(ck), i + 1);
        else
            s->params[i] = (ol_optim_param){.offset = v[0], .rows = v[1], .cols = v[2],
                                            .matrix = (int)v[3], .group = (int)v[4]};
    }
    if (rc == 0) s->nparams = (int)n;
    json_decref(j);
    return rc;
}

void ol_optim_saved_free(ol_optim_saved *s) {
    free(s->groups);
    free(s->params);
    s->groups = NULL;
    s->params = NULL;
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
        if (t->ndim != 1) {
            char a[64];
            return ol_fail(err, CK ": tensor '%s' is %s; the state tensors are vectors",
                           ol_ck_name(ck), key, ol_shape_str(t, a, sizeof a));
        }
        if (i == 0) s->n = t->shape[0];
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
        read_groups(ck, s, err) || read_params(ck, s, err) || read_mode(ck, s, err)) {
        ol_optim_saved_free(s);
        return -1;
    }
    return 0;
}

/* Whether the stored layout is opt's: the same tensors in the same groups
 * (files without one: a single group). */
static int same_layout(const ol_optim *opt, const ol_optim_saved *s, const char *ckname,
                       ol_error *err) {
    if (s->ngroups != opt->ngroups)
        return ol_fail(err, CK " holds an optimizer with %d parameter groups, this one has %d",
                       ckname, s->ngroups, opt->ngroups);
    if (s->nparams < 0) return 0;
    if (s->nparams != opt->nparams)
        return ol_fail(err, CK " holds an optimizer over %d parameter tensors, this one has %d",
                       ckname, s->nparams, opt->nparams);
    for (int i = 0; i < s->nparams; i++) {
        const ol_optim_param *a = &s->params[i], *b = &opt->params[i];
        if (a->offset != b->offset || a->rows != b->rows || a->cols != b->cols ||
            a->matrix != b->matrix || a->group != b->group)
            return ol_fail(err, CK ": its optimizer's tensor %d (%lldx%lld at %lld, group %d) is "
                           "not this one's (%lldx%lld at %lld, group %d)", ckname, i + 1,
                           (long long)a->rows, (long long)a->cols, (long long)a->offset,
                           a->group + 1, (long long)b->rows, (long long)b->cols,
                           (long long)b->offset, b->group + 1);
    }
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
    int rc = 0;
    if (s.dtype != opt->dtype)
        rc = ol_fail(err, CK " holds an optimizer working in %s, this one works in %s",
                     ol_ck_name(ck), ol_dtype_name(s.dtype), ol_dtype_name(opt->dtype));
    for (int i = 0; rc == 0 && i < d->nstate; i++)
        if (s.state[i]->shape[0] != ol_tensor_numel(&opt->state[i]))
            rc = ol_fail(err, CK " holds optimizer state '%s' of %lld elements, this optimizer's "
                         "has %lld", ol_ck_name(ck), d->state_names[i],
                         (long long)s.state[i]->shape[0], (long long)ol_tensor_numel(&opt->state[i]));
    if (rc == 0) rc = same_layout(opt, &s, ol_ck_name(ck), err);
    /* Each group: the stored options over the live ones (a file without
     * optim.groups stores only the options it names), checked as a whole. */
    ol_optim_group *g = rc ? NULL : calloc((size_t)opt->ngroups, sizeof *g);
    if (rc == 0 && !g) rc = ol_fail(err, "out of memory for %d optimizer groups", opt->ngroups);
    for (int k = 0; rc == 0 && k < opt->ngroups; k++) {
        g[k] = s.groups[k];
        if (k > 0) continue; /* groups 2.. store every option */
        memcpy(g[k].o, opt->groups[k].o, sizeof g[k].o);
        for (int i = 0; i < d->noptions; i++) {
            const ol_optim_option *op = &d->options[i];
            if (s.stored[i])
                memcpy(g[k].o + op->slot, s.o + op->slot,
                       sizeof(double) * (size_t)ol_optim_option_size(op));
        }
        ol_error e;
        if (ol_optim_check_values(d, g[k].o, &e)) rc = ol_fail(err, CK ": %s", ol_ck_name(ck), e.msg);
    }
    /* Each group's options must suit its tensors (muon's rule needs matrices). */
    for (int i = 0; rc == 0 && d->check_param && i < opt->nparams; i++) {
        ol_error e;
        if (d->check_param(&opt->params[i], g[opt->params[i].group].o, &e))
            rc = ol_fail(err, CK ": group %d: %s", ol_ck_name(ck), opt->params[i].group + 1, e.msg);
    }
    for (int k = 0; rc == 0 && k < opt->ngroups; k++)
        for (int i = 0; rc == 0 && i < d->noptions; i++) {
            const ol_optim_option *op = &d->options[i];
            if (op->sizes_state && memcmp(g[k].o + op->slot, opt->groups[k].o + op->slot,
                                          sizeof(double) * (size_t)ol_optim_option_size(op)))
                rc = ol_fail(err, CK ": option '%s' of group %d differs from this optimizer's, "
                             "and it sizes the state", ol_ck_name(ck), op->name, k + 1);
        }
    if (rc == 0) {
        /* Everything fits: a reset drops a closure method's memory, then
         * the stored values replace the rest. */
        ol_optim_reset(opt);
        for (int i = 0; rc == 0 && i < d->nstate; i++)
            rc = ol_tensor_copy_(&opt->state[i], s.state[i], err);
        for (int k = 0; rc == 0 && k < opt->ngroups; k++) {
            memcpy(opt->groups[k].o, g[k].o, sizeof g[k].o);
            memcpy(opt->groups[k].scalars, g[k].scalars, sizeof g[k].scalars);
        }
        if (rc == 0) {
            opt->t = s.t;
            opt->eval_mode = s.eval_mode;
        }
    }
    free(g);
    ol_optim_saved_free(&s);
    return rc;
}
