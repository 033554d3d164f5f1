/* tostring(t): the values, then a footer with dtype and shape, in the
 * manner of Torch7 (`[torch.FloatTensor of size 2x3]`):
 *
 *    1  2  3
 *    4  5  6
 *   [f32 tensor of size 2x3]
 *
 * A 1-D tensor prints as one row; a tensor of 3 or more dimensions prints
 * one matrix per leading index, headed `(i,j,.,.) =`. One number format
 * serves the whole tensor: integers when every shown value is one, else
 * fixed point, or scientific when the magnitudes call for it, with 4
 * decimals for f32 (about its 7 significant digits after the scale) and 8
 * for f64 unless the print options set the precision.
 *
 * ol.print_options{edge = 3, threshold = 1000, precision = "auto",
 * linewidth = 80}, as torch.set_printoptions: a tensor of more than
 * `threshold` elements is summarised, every dimension longer than 2·edge
 * showing its first and last `edge` entries around "...", so printing a
 * large tensor costs only what it shows; a smaller one prints whole. A
 * row longer than `linewidth` characters is cut: a vector continues on
 * the next lines, a matrix prints in blocks of columns headed
 * `Columns i to j` (as Torch7), so that its rows stay rows. The options
 * are the Lua state's, kept in the registry. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "l_tensor_priv.h"

#define GAP (-1) /* marks "..." among the shown indices */
#define OPTIONS_KEY "optlua.print_options"

typedef struct print_options {
    lua_Integer edge, linewidth;
    lua_Number threshold;
    int precision; /* decimals; -1: by dtype */
} print_options;

static const print_options defaults = {.edge = 3, .linewidth = 80, .threshold = 1000, .precision = -1};

/* The state's print options, made with the defaults on first use. */
static print_options *get_options(lua_State *L) {
    print_options *po;
    if (lua_getfield(L, LUA_REGISTRYINDEX, OPTIONS_KEY) == LUA_TUSERDATA) {
        po = lua_touserdata(L, -1);
    } else {
        lua_pop(L, 1);
        po = lua_newuserdatauv(L, sizeof *po, 0);
        *po = defaults;
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, OPTIONS_KEY);
    }
    lua_pop(L, 1); /* the registry keeps it */
    return po;
}

typedef struct printer {
    const ol_tensor *t;
    int elide[OL_MAXDIM]; /* dimension d shows edge entries at each end */
    int64_t edge;
    char fmt[16];
    int width;
    int64_t perline; /* cells of width + 1 characters on one line */
    luaL_Buffer *b;
} printer;

/* How many cells dimension d shows, "..." included, and the index shown in
 * cell k (GAP for "..."). */
static int64_t nshown(const printer *p, int d) {
    return p->elide[d] ? 2 * p->edge + 1 : p->t->shape[d];
}

static int64_t shown(const printer *p, int d, int64_t k) {
    if (!p->elide[d] || k < p->edge) return k;
    if (k == p->edge) return GAP;
    return p->t->shape[d] - (2 * p->edge + 1 - k);
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
    for (int64_t k = 0; k < nshown(p, d); k++) {
        if ((idx[d] = shown(p, d, k)) == GAP) continue;
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
    for (int64_t k = 0; k < nshown(p, d); k++) {
        if ((idx[d] = shown(p, d, k)) == GAP) continue;
        measure(p, d + 1, idx);
    }
}

static void choose_format(printer *p, const print_options *po) {
    int64_t idx[OL_MAXDIM] = {0};
    scan s = {0, HUGE_VAL, 1};
    scan_values(p, 0, idx, &s);
    int prec = po->precision >= 0 ? po->precision : p->t->dtype == OL_F32 ? 4 : 8;
    if (s.all_int && s.maxabs < 1e9)
        snprintf(p->fmt, sizeof p->fmt, "%%.0f");
    else if (s.maxabs >= 1e5 || s.minabs < 1e-4)
        snprintf(p->fmt, sizeof p->fmt, "%%.%de", prec);
    else
        snprintf(p->fmt, sizeof p->fmt, "%%.%df", prec);
    p->width = 1;
    measure(p, 0, idx);
    p->perline = po->linewidth / (p->width + 1);
    if (p->perline < 1) p->perline = 1;
}

/* Cells [from, to) of the innermost dimension, from idx with that
 * dimension free; a vector (wrap) goes on to a new line every perline
 * cells. */
static void print_row(printer *p, int64_t *idx, int64_t from, int64_t to, int wrap) {
    int d = p->t->ndim - 1;
    char buf[80];
    for (int64_t k = from; k < to; k++) {
        if (wrap && k > from && (k - from) % p->perline == 0) luaL_addchar(p->b, '\n');
        if ((idx[d] = shown(p, d, k)) == GAP) {
            snprintf(buf, sizeof buf, " %*s", p->width, "...");
        } else {
            char num[64];
            format_value(p, ol_tensor_get(p->t, idx), num, sizeof num);
            snprintf(buf, sizeof buf, " %*s", p->width, num);
        }
        luaL_addstring(p->b, buf);
    }
    luaL_addchar(p->b, '\n');
}

/* The last two dimensions, in blocks of perline columns when a row does
 * not fit on a line. */
static void print_matrix(printer *p, int64_t *idx) {
    int d = p->t->ndim - 2;
    int64_t ncols = nshown(p, d + 1);
    for (int64_t from = 0; from < ncols; from += p->perline) {
        int64_t to = from + p->perline < ncols ? from + p->perline : ncols;
        if (to - from < ncols) {
            /* "Columns i to j", 1-based, of the first and last values shown */
            int64_t a = shown(p, d + 1, from), z = shown(p, d + 1, to - 1);
            if (a == GAP) a = shown(p, d + 1, from + 1);
            if (z == GAP) z = shown(p, d + 1, to - 2);
            char head[96];
            snprintf(head, sizeof head, "%sColumns %lld to %lld\n", from > 0 ? "\n" : "", (long long)a + 1,
                     (long long)z + 1);
            luaL_addstring(p->b, head);
        }
        for (int64_t k = 0; k < nshown(p, d); k++) {
            if ((idx[d] = shown(p, d, k)) == GAP) {
                char buf[80];
                snprintf(buf, sizeof buf, " %*s\n", p->width, "...");
                luaL_addstring(p->b, buf);
                continue;
            }
            print_row(p, idx, from, to, 0);
        }
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
    for (int64_t k = 0; k < nshown(p, d); k++) {
        if ((idx[d] = shown(p, d, k)) == GAP) {
            luaL_addstring(p->b, "...\n\n");
            continue;
        }
        print_blocks(p, d + 1, idx);
    }
}

int ol_l_tostring(lua_State *L) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, 1, OL_TENSOR_MT);
    if (!u) return luaL_typeerror(L, 1, "tensor");
    if (u->closed) {
        lua_pushstring(L, u->closed == OL_L_FREED ? "[freed tensor]" : "[closed tensor]");
        return 1;
    }
    const print_options *po = get_options(L);
    const ol_tensor *t = &u->t;
    int64_t numel = ol_tensor_numel(t);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    printer p;
    memset(&p, 0, sizeof p);
    p.t = t;
    p.b = &b;
    p.edge = po->edge;
    for (int d = 0; d < t->ndim; d++) p.elide[d] = (lua_Number)numel > po->threshold && t->shape[d] > 2 * p.edge;
    int64_t idx[OL_MAXDIM] = {0};
    char shape[96], foot[160];
    ol_shape_str(t, shape, sizeof shape);
    if (numel > 0) {
        choose_format(&p, po);
        if (t->ndim == 0) {
            char num[64];
            format_value(&p, ol_tensor_get(t, idx), num, sizeof num);
            luaL_addstring(&b, num);
            luaL_addchar(&b, '\n');
        } else if (t->ndim == 1) {
            print_row(&p, idx, 0, nshown(&p, 0), 1);
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

/* Pushes the options in force as a table. */
static void push_options(lua_State *L, const print_options *po) {
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, po->edge);
    lua_setfield(L, -2, "edge");
    lua_Integer th;
    if (lua_numbertointeger(po->threshold, &th)) lua_pushinteger(L, th);
    else lua_pushnumber(L, po->threshold); /* math.huge */
    lua_setfield(L, -2, "threshold");
    if (po->precision >= 0) lua_pushinteger(L, po->precision);
    else lua_pushliteral(L, "auto");
    lua_setfield(L, -2, "precision");
    lua_pushinteger(L, po->linewidth);
    lua_setfield(L, -2, "linewidth");
}

/* ol.print_options([options]) -> the options in force, after setting the
 * given ones (the others keep their values); ol.print_options("default")
 * puts back the defaults. Checked through the kit, all before any is set. */
static int l_print_options(lua_State *L) {
    print_options *po = get_options(L);
    if (lua_type(L, 1) == LUA_TSTRING) {
        if (strcmp(lua_tostring(L, 1), "default") != 0)
            return ol_arg_error(L, 1, "print_options", "options table or 'default' expected, got '%s'",
                                lua_tostring(L, 1));
        *po = defaults;
    } else {
        print_options n = *po;
        ol_opts o;
        ol_opts_begin(L, &o, 1, "print_options", 0);
        n.edge = ol_opt_integer(&o, "edge", po->edge, 1, 1000000);
        n.threshold = ol_opt_number(&o, "threshold", po->threshold, (ol_range){0, HUGE_VAL, 0, 0, 1});
        if (ol_opt_push(&o, "precision")) {
            int isint = 0;
            lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
            if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "auto") == 0) n.precision = -1;
            else if (isint && v >= 0 && v <= 16) n.precision = (int)v;
            else ol_opt_expected(&o, "precision", "an integer in 0..16 or 'auto'", -1);
        }
        lua_pop(L, 1);
        n.linewidth = ol_opt_integer(&o, "linewidth", po->linewidth, 1, 1000000);
        ol_opts_end(&o);
        *po = n;
    }
    push_options(L, po);
    return 1;
}

void ol_open_tensor_print(lua_State *L) {
    lua_pushcfunction(L, l_print_options);
    lua_setfield(L, -2, "print_options");
}
