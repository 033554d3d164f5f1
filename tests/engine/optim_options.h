/* Option schedules for the optimizer tests: a list of option values, each
 * in force from a given step, read by the reference implementations (get,
 * get2) and applied to the engine's optimizer (set_options). Include after
 * <cmocka.h> and "optim/optim.h". */
#ifndef OL_TEST_OPTIM_OPTIONS_H
#define OL_TEST_OPTIM_OPTIONS_H

#include <string.h>

/* An option value, in force from step `at` on (0: from the start). */
typedef struct kv {
    const char *k;
    double v[2];
    int at;
} kv;

#define KV_END {NULL, {0, 0}, 0}

/* Element `which` of option k at step t, def if never set by then. */
static inline double get2(const kv *o, const char *k, double def, int t, int which) {
    double r = def;
    for (; o && o->k; o++)
        if (strcmp(o->k, k) == 0 && o->at <= t) r = o->v[which];
    return r;
}

static inline double get(const kv *o, const char *k, double def, int t) {
    return get2(o, k, def, t, 0);
}

/* Assigns the values that take effect at step t, through the engine's checks. */
static inline void set_options(ol_optim *opt, const kv *o, int t) {
    ol_error err;
    for (; o && o->k; o++)
        if (o->at == t && ol_optim_set(opt, o->k, o->v, &err) != 0)
            fail_msg("setting %s: %s", o->k, err.msg);
}

#endif
