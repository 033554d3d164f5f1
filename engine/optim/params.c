/* The parameter tensors and groups of an optimizer instance: where each
 * tensor lies in the flat parameter vector, its shape (a per-tensor rule
 * reads a whole tensor: a norm, a matrix's sides), and which group's
 * options step it. From them follow the ranges a fused step runs over, the
 * state's layout and the scratch, all sized here once, so that a step
 * allocates nothing. */
#include "optim/optim.h"

#include <stdlib.h>
#include <string.h>

static int by_offset(const void *a, const void *b) {
    const ol_optim_param *x = a, *y = b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static int64_t numel(const ol_optim_param *p) { return p->rows * p->cols; }

/* Checks the sorted tensors: each inside [0, n), none overlapping, a group
 * in [0, ngroups). */
static int check_params(const ol_optim *opt, const ol_optim_param *p, int np, int ngroups,
                        ol_error *err) {
    for (int i = 0; i < np; i++) {
        const ol_optim_param k = p[i];
        if (k.rows < 1 || k.cols < 1 || k.offset < 0 || k.rows > (opt->n - k.offset) / k.cols)
            return ol_fail(err, "parameter %lldx%lld at offset %lld does not fit in %lld elements",
                           (long long)k.rows, (long long)k.cols, (long long)k.offset,
                           (long long)opt->n);
        if (k.matrix ? 0 : k.rows != 1)
            return ol_fail(err, "parameter at offset %lld: a vector has rows = 1",
                           (long long)k.offset);
        if (k.group < 0 || k.group >= ngroups)
            return ol_fail(err, "parameter at offset %lld is in group %d of %d", (long long)k.offset,
                           k.group + 1, ngroups);
        if (i > 0 && p[i - 1].offset + numel(&p[i - 1]) > k.offset)
            return ol_fail(err, "parameters at offsets %lld and %lld overlap",
                           (long long)p[i - 1].offset, (long long)k.offset);
    }
    return 0;
}

/* The runs of adjacent tensors of one group, into r (np entries at most). */
static int make_ranges(const ol_optim_param *p, int np, ol_optim_range *r) {
    int nr = 0;
    for (int i = 0; i < np; i++) {
        if (nr > 0 && r[nr - 1].group == p[i].group && r[nr - 1].offset + r[nr - 1].n == p[i].offset)
            r[nr - 1].n += numel(&p[i]);
        else
            r[nr++] = (ol_optim_range){.offset = p[i].offset, .n = numel(&p[i]), .group = p[i].group};
    }
    return nr;
}

/* Each tensor's part of each state buffer (soff), and the buffers' lengths. */
static void layout(const ol_optim_desc *d, const ol_optim_group *g, ol_optim_param *p, int np,
                   int64_t n, int64_t *len) {
    for (int k = 0; k < d->nstate; k++) {
        if (!d->state_len) {
            for (int i = 0; i < np; i++) p[i].soff[k] = p[i].offset;
            len[k] = n;
            continue;
        }
        int64_t at = 0;
        for (int i = 0; i < np; i++) {
            p[i].soff[k] = at;
            at += d->state_len(k, &p[i], g[p[i].group].o);
        }
        len[k] = at;
    }
}

int ol_optim_set_params(ol_optim *opt, const ol_optim_param *p, int np, int ngroups,
                        ol_error *err) {
    const ol_optim_desc *d = opt->desc;
    if (opt->t != 0)
        return ol_fail(err, "the parameters of %s are set before its first step (it has taken %lld)",
                       d->name, (long long)opt->t);
    if (np < 0 || ngroups < 1) return ol_fail(err, "%d parameters in %d groups", np, ngroups);
    ol_optim_param *params = malloc((size_t)(np > 0 ? np : 1) * sizeof *params);
    ol_optim_range *ranges = malloc((size_t)(np > 0 ? np : 1) * sizeof *ranges);
    ol_optim_group *groups = calloc((size_t)ngroups, sizeof *groups);
    ol_tensor state[OL_OPTIM_MAXSTATE] = {0}, work = {0};
    if (!params || !ranges || !groups) {
        ol_fail(err, "out of memory for %d parameters", np);
        goto fail;
    }
    memcpy(params, p, (size_t)np * sizeof *params);
    qsort(params, (size_t)np, sizeof *params, by_offset);
    if (check_params(opt, params, np, ngroups, err)) goto fail;
    for (int i = 0; i < ngroups; i++) {
        const ol_optim_group *from = &opt->groups[i < opt->ngroups ? i : 0];
        memcpy(groups[i].o, from->o, sizeof groups[i].o);
        if (i < opt->ngroups) memcpy(groups[i].scalars, from->scalars, sizeof groups[i].scalars);
    }
    if (d->check_param && !opt->defer_check)
        for (int i = 0; i < np; i++)
            if (d->check_param(&params[i], groups[params[i].group].o, err)) goto fail;
    const int nr = make_ranges(params, np, ranges);
    int64_t len[OL_OPTIM_MAXSTATE] = {0};
    layout(d, groups, params, np, opt->n, len);
    for (int k = 0; k < d->nstate; k++) {
        const int64_t shape[1] = {len[k]};
        if (ol_tensor_zeros(&state[k], opt->dtype, 1, shape, err)) goto fail;
    }
    /* The workspace function reads the instance: show it the new layout. */
    ol_optim probe = *opt;
    probe.params = params;
    probe.nparams = np;
    probe.groups = groups;
    probe.ngroups = ngroups;
    const int64_t nw = d->workspace ? d->workspace(&probe) : 0;
    if (nw > 0) {
        const int64_t shape[1] = {nw};
        if (ol_tensor_zeros(&work, opt->dtype, 1, shape, err)) goto fail;
    }
    free(opt->params);
    free(opt->ranges);
    free(opt->groups);
    for (int k = 0; k < OL_OPTIM_MAXSTATE; k++) {
        ol_tensor_release(&opt->state[k]);
        opt->state[k] = state[k];
    }
    ol_tensor_release(&opt->work);
    opt->work = work;
    opt->params = params;
    opt->nparams = np;
    opt->ranges = ranges;
    opt->nranges = nr;
    opt->groups = groups;
    opt->ngroups = ngroups;
    opt->provisional = 0;
    opt->defer_check = 0;
    return 0;
fail:
    for (int k = 0; k < OL_OPTIM_MAXSTATE; k++) ol_tensor_release(&state[k]);
    ol_tensor_release(&work);
    free(params);
    free(ranges);
    free(groups);
    return -1;
}
