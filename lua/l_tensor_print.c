/* tostring(t): the values, then a footer with dtype and shape, in the
 * manner of Torch7 (`[torch.FloatTensor of size 2x3]`):
 *
 *    1  2  3
 *    4  5  6
 *   [f32 tensor of size 2x3]
 *
 * A 1-D tensor prints as one row; a tensor of 3 or more dimensions prints
 * one matrix per leading index, headed `(i,j,.,.) =`. Any dimension longer
 * than ELIDE_AT shows its first and last EDGE entries around "...", as
 * PyTorch does, so printing a large tensor costs only what it shows. One
 * number format serves the whole tensor: integers when every shown value is
 * one, else fixed point, or scientific when the magnitudes call for it,
 * with 4 decimals for f32 (about its 7 significant digits after the
 * scale) and 8 for f64. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "l_tensor_priv.h"

#define ELIDE_AT 6
#define EDGE 3
#define GAP (-1) /* marks "..." in a list of shown indices */

typedef struct printer {
    const ol_tensor *t;
    int64_t shown[OL_MAXDIM][2 * EDGE + 1];
    int nshown[OL_MAXDIM];
    char fmt[16];
    int width;
    luaL_Buffer *b;
} printer;

static void plan_dim(printer *p, int d) {
    int64_t n = p->t->shape[d];
    int k = 0;
    if (n > ELIDE_AT) {
        for (int64_t i = 0; i < EDGE; i++) p->shown[d][k++] = i;
        p->shown[d][k++] = GAP;
        for (int64_t i = n - EDGE; i < n; i++) p->shown[d][k++] = i;
    } else {
        for (int64_t i = 0; i < n; i++) p->shown[d][k++] = i;
    }
    p->nshown[d] = k;
}

typedef struct scan {
    double maxabs, minabs; /* over finite non-zero values */
    int all_int;
} scan;

static void scan_values(const printer *p, int d, int64_t *idx, scan *s) {
    if (d == p->t->ndim) {
        double v = ol_tensor_get(p->t, idx);
        if (!isfinite(v)) return;
        if (v != floor(v)) s->all_int = 0;
        double a = fabs(v);
        if (a > s->maxabs) s->maxabs = a;
        if (a > 0 && a < s->minabs) s->minabs = a;
        return;
    }
    for (int k = 0; k < p->nshown[d]; k++) {
        if (p->shown[d][k] == GAP) continue;
        idx[d] = p->shown[d][k];
        scan_values(p, d + 1, idx, s);
    }
}

static int format_value(const printer *p, double v, char *buf, size_t size) {
    if (isnan(v)) return snprintf(buf, size, "nan"); /* not glibc's "-nan" */
    return snprintf(buf, size, p->fmt, v);
}

/* Width of the widest shown value, so that columns line up. */
static void measure(printer *p, int d, int64_t *idx) {
    if (d == p->t->ndim) {
        char buf[64];
        int w = format_value(p, ol_tensor_get(p->t, idx), buf, sizeof buf);
        if (w > p->width) p->width = w;
        return;
    }
    for (int k = 0; k < p->nshown[d]; k++) {
        if (p->shown[d][k] == GAP) continue;
        idx[d] = p->shown[d][k];
        measure(p, d + 1, idx);
    }
}

static void choose_format(printer *p) {
    int64_t idx[OL_MAXDIM] = {0};
    scan s = {0, HUGE_VAL, 1};
    scan_values(p, 0, idx, &s);
    int prec = p->t->dtype == OL_F32 ? 4 : 8;
    if (s.all_int && s.maxabs < 1e9)
        snprintf(p->fmt, sizeof p->fmt, "%%.0f");
    else if (s.maxabs >= 1e5 || s.minabs < 1e-4)
        snprintf(p->fmt, sizeof p->fmt, "%%.%de", prec);
    else
        snprintf(p->fmt, sizeof p->fmt, "%%.%df", prec);
    p->width = 1;
    measure(p, 0, idx);
}

/* One line of the innermost dimension, from idx with that dimension free. */
static void print_row(printer *p, int64_t *idx) {
    int d = p->t->ndim - 1;
    char buf[80];
    for (int k = 0; k < p->nshown[d]; k++) {
        if (p->shown[d][k] == GAP) {
            snprintf(buf, sizeof buf, " %*s", p->width, "...");
        } else {
            idx[d] = p->shown[d][k];
            char num[64];
            format_value(p, ol_tensor_get(p->t, idx), num, sizeof num);
            snprintf(buf, sizeof buf, " %*s", p->width, num);
        }
        luaL_addstring(p->b, buf);
    }
    luaL_addchar(p->b, '\n');
}

static void print_matrix(printer *p, int64_t *idx) {
    int d = p->t->ndim - 2;
    for (int k = 0; k < p->nshown[d]; k++) {
        if (p->shown[d][k] == GAP) {
            char buf[80];
            snprintf(buf, sizeof buf, " %*s\n", p->width, "...");
            luaL_addstring(p->b, buf);
            continue;
        }
        idx[d] = p->shown[d][k];
        print_row(p, idx);
    }
}

/* Dimensions before the last two: one headed matrix per index. */
static void print_blocks(printer *p, int d, int64_t *idx) {
    int nd = p->t->ndim;
    if (d == nd - 2) {
        char head[16 * OL_MAXDIM] = "(";
        for (int i = 0; i < nd; i++) {
            char part[24];
            if (i < nd - 2) snprintf(part, sizeof part, "%lld,", (long long)idx[i] + 1);
            else snprintf(part, sizeof part, i == nd - 1 ? ".) =\n" : ".,");
            strcat(head, part);
        }
        luaL_addstring(p->b, head);
        print_matrix(p, idx);
        luaL_addchar(p->b, '\n');
        return;
    }
    for (int k = 0; k < p->nshown[d]; k++) {
        if (p->shown[d][k] == GAP) {
            luaL_addstring(p->b, "...\n\n");
            continue;
        }
        idx[d] = p->shown[d][k];
        print_blocks(p, d + 1, idx);
    }
}

int ol_l_tostring(lua_State *L) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, 1, OL_TENSOR_MT);
    if (!u) return luaL_typeerror(L, 1, "tensor");
    if (u->closed) {
        lua_pushliteral(L, "[closed tensor]");
        return 1;
    }
    const ol_tensor *t = &u->t;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    printer p;
    memset(&p, 0, sizeof p);
    p.t = t;
    p.b = &b;
    for (int d = 0; d < t->ndim; d++) plan_dim(&p, d);
    int64_t idx[OL_MAXDIM] = {0};
    int64_t numel = ol_tensor_numel(t);
    char shape[96], foot[160];
    ol_shape_str(t, shape, sizeof shape);
    if (numel > 0) {
        choose_format(&p);
        if (t->ndim == 0) {
            char num[64];
            format_value(&p, ol_tensor_get(t, idx), num, sizeof num);
            luaL_addstring(&b, num);
            luaL_addchar(&b, '\n');
        } else if (t->ndim == 1) {
            print_row(&p, idx);
        } else if (t->ndim == 2) {
            print_matrix(&p, idx);
        } else {
            print_blocks(&p, 0, idx);
        }
    }
    if (t->ndim == 0) snprintf(foot, sizeof foot, "[%s scalar tensor]", ol_dtype_name(t->dtype));
    else snprintf(foot, sizeof foot, "[%s tensor of size %s]", ol_dtype_name(t->dtype), shape);
    luaL_addstring(&b, foot);
    luaL_pushresult(&b);
    return 1;
}
