/* The argument kit (l_args.h): the one formatter of argument errors, the
 * strict option-table readers, and ol._args, which gives the Lua-side
 * modules the same checks and the same words. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l_args.h"
#include "l_common.h"

/* ---- the formatter ---- */

/* Raises msg for argument arg of fname at the position of the function
 * `level` levels up (luaL_where). arg is as reported: > 0 an argument,
 * 0 self, < 0 none. */
static int raise_at(lua_State *L, int level, int arg, const char *fname, const char *msg) {
    luaL_where(L, level);
    if (arg > 0) lua_pushfstring(L, "bad argument #%d to '%s' (%s)", arg, fname, msg);
    else if (arg == 0) lua_pushfstring(L, "calling '%s' on bad self (%s)", fname, msg);
    else lua_pushfstring(L, "bad call to '%s' (%s)", fname, msg);
    lua_concat(L, 2);
    return lua_error(L);
}

/* The running C function's argument error: self discounted for method
 * calls, named fname, or by Lua's call information when fname is NULL. */
static int raise_msg(lua_State *L, int arg, const char *fname, const char *msg) {
    lua_Debug ar;
    int have = lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar);
    if (!fname && arg > 0) return luaL_argerror(L, arg, msg); /* Lua's own naming */
    if (!fname) fname = have && ar.name ? ar.name : "?";
    if (arg > 0 && have && ar.namewhat && strcmp(ar.namewhat, "method") == 0) arg--;
    else if (arg <= 0) arg = -1;
    return raise_at(L, 1, arg, fname, msg);
}

int ol_arg_verror(lua_State *L, int arg, const char *fname, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return raise_msg(L, arg, fname, msg);
}

int ol_arg_error(lua_State *L, int arg, const char *fname, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ol_arg_verror(L, arg, fname, fmt, ap);
    va_end(ap);
    return 0;
}

/* The type of the value at idx as luaL_typeerror names it: its
 * metatable's __name, else the type (may push the name). */
static const char *type_name(lua_State *L, int idx) {
    if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) return lua_tostring(L, -1);
    if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) return "light userdata";
    return luaL_typename(L, idx);
}

int ol_arg_expected(lua_State *L, int arg, const char *fname, const char *what) {
    return ol_arg_error(L, arg, fname, "%s expected, got %s", what, type_name(L, arg));
}

/* ---- did you mean ---- */

#define KEYMAX 64

/* Optimal-string-alignment distance (Levenshtein plus transpositions of
 * neighbours), ignoring case; both strings shorter than KEYMAX. */
static int osa_distance(const char *a, size_t na, const char *b, size_t nb) {
    int d[KEYMAX + 1][KEYMAX + 1];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int cost = ca != cb;
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

static int prefix_of(const char *s, size_t ns, const char *t) {
    for (size_t i = 0; i < ns; i++)
        if (tolower((unsigned char)s[i]) != tolower((unsigned char)t[i])) return 0;
    return 1;
}

const char *ol_arg_closest(const char *key, const char *const *names, int n) {
    size_t nk = strlen(key);
    const char *best = NULL;
    int best_d = 1 << 20;
    if (nk == 0 || nk >= KEYMAX) return NULL;
    for (int i = 0; n < 0 ? names[i] != NULL : i < n; i++) {
        size_t nn = strlen(names[i]);
        if (nn >= KEYMAX) continue;
        int d = osa_distance(key, nk, names[i], nn);
        int close = d <= (nk <= 4 ? 1 : 2) && (size_t)d < (nk > nn ? nk : nn);
        size_t shorter = nk < nn ? nk : nn;
        if (shorter >= 3 && prefix_of(nk < nn ? key : names[i], shorter, nk < nn ? names[i] : key))
            close = 1;
        if (close && d < best_d) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

/* "unknown option 'key'; did you mean 'x'?" or "...; expected one of a, b". */
static void push_unknown(lua_State *L, const char *key, const char *const *names, int n) {
    luaL_Buffer b;
    const char *close = ol_arg_closest(key, names, n);
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "unknown option '%s'", key);
    luaL_addvalue(&b);
    if (close) {
        lua_pushfstring(L, "; did you mean '%s'?", close);
        luaL_addvalue(&b);
    } else if (n == 0 || (n < 0 && !names[0])) {
        luaL_addstring(&b, "; this function takes no options");
    } else {
        luaL_addstring(&b, "; expected one of ");
        for (int i = 0; n < 0 ? names[i] != NULL : i < n; i++) {
            if (i) luaL_addstring(&b, ", ");
            luaL_addstring(&b, names[i]);
        }
    }
    luaL_pushresult(&b);
}

int ol_arg_unknown(lua_State *L, int arg, const char *fname, const char *key,
                   const char *const *names, int n) {
    push_unknown(L, key, names, n);
    return raise_msg(L, arg, fname, lua_tostring(L, -1));
}

/* ---- describing values and wants ---- */

/* Pushes how a value is shown after "got": numbers and strings as they
 * are (strings quoted), anything else by its type name. */
static void push_got(lua_State *L, int vidx) {
    char num[64];
    vidx = lua_absindex(L, vidx);
    switch (lua_type(L, vidx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, vidx)) snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, vidx));
        else if (lua_tonumber(L, vidx) != lua_tonumber(L, vidx)) snprintf(num, sizeof num, "nan");
        else snprintf(num, sizeof num, "%.14g", (double)lua_tonumber(L, vidx));
        lua_pushstring(L, num);
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, vidx, &len);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addchar(&b, '\'');
        luaL_addlstring(&b, s, len > 60 ? 60 : len);
        luaL_addstring(&b, len > 60 ? "...'" : "'");
        luaL_pushresult(&b);
        break;
    }
    default: {
        int top = lua_gettop(L);
        lua_pushstring(L, type_name(L, vidx));
        if (lua_gettop(L) > top + 1) lua_remove(L, -2); /* the __name type_name pushed */
    }
    }
}

static void fmt_num(char *buf, size_t size, double v) { snprintf(buf, size, "%.14g", v); }

/* ">= 1", "> 0", "in [0, 1)", "<= 5", "in 1..8" (integer: both ends
 * closed), or "" for an unbounded range. */
static void range_phrase(char *buf, size_t size, ol_range r, int integer) {
    char a[32], b[32];
    fmt_num(a, sizeof a, r.lo);
    fmt_num(b, sizeof b, r.hi);
    int has_lo = r.lo > -HUGE_VAL, has_hi = r.hi < HUGE_VAL;
    if (has_lo && has_hi && integer && !r.lo_open && !r.hi_open)
        snprintf(buf, size, "in %s..%s", a, b);
    else if (has_lo && has_hi)
        snprintf(buf, size, "in %c%s, %s%c", r.lo_open ? '(' : '[', a, b, r.hi_open ? ')' : ']');
    else if (has_lo) snprintf(buf, size, "%s %s", r.lo_open ? ">" : ">=", a);
    else if (has_hi) snprintf(buf, size, "%s %s", r.hi_open ? "<" : "<=", b);
    else buf[0] = 0;
}

/* "'a', 'b' or 'c'" */
static void push_choices(lua_State *L, const char *const *choices) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; choices[i]; i++) {
        if (i) luaL_addstring(&b, choices[i + 1] ? ", " : " or ");
        luaL_addchar(&b, '\'');
        luaL_addstring(&b, choices[i]);
        luaL_addchar(&b, '\'');
    }
    luaL_pushresult(&b);
}

/* ---- option tables ---- */

static int opts_raise(ol_opts *o, const char *msg) {
    if (o->level) return raise_at(o->L, o->level, o->arg, o->fname, msg);
    return raise_msg(o->L, o->arg, o->fname, msg);
}

int ol_opt_error(ol_opts *o, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return opts_raise(o, msg);
}

int ol_opt_expected(ol_opts *o, const char *name, const char *want, int vidx) {
    lua_State *L = o->L;
    vidx = lua_absindex(L, vidx);
    push_got(L, vidx);
    lua_pushfstring(L, "option '%s' must be %s, got %s", name, want, lua_tostring(L, -1));
    return opts_raise(o, lua_tostring(L, -1));
}

void ol_opts_begin(lua_State *L, ol_opts *o, int idx, const char *fname, int flags) {
    memset(o, 0, sizeof *o);
    o->L = L;
    o->fname = fname;
    o->flags = flags;
    o->arg = idx;
    idx = lua_absindex(L, idx);
    if (lua_istable(L, idx)) o->idx = idx;
    else if (!lua_isnoneornil(L, idx) || (flags & OL_OPTS_REQUIRED))
        ol_arg_expected(L, o->arg, fname, "options table");
}

/* Records name as an option of this function. */
static void note(ol_opts *o, const char *name) {
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->names[i], name) == 0) return;
    if (o->n == OL_OPTS_MAX) luaL_error(o->L, "%s: more than %d options", o->fname, OL_OPTS_MAX);
    o->names[o->n++] = name;
}

int ol_opt_push(ol_opts *o, const char *name) {
    note(o, name);
    if (!o->idx) {
        lua_pushnil(o->L);
        return 0;
    }
    return lua_getfield(o->L, o->idx, name) != LUA_TNIL;
}

/* A required option is missing: a key of the table that misspells it
 * (and is no other option) is the likelier mistake, so that is reported. */
static void missing(ol_opts *o, const char *name) {
    lua_State *L = o->L;
    const char *one[1] = {name};
    if (o->idx) {
        lua_pushnil(L);
        while (lua_next(L, o->idx)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING) continue;
            const char *k = lua_tostring(L, -1);
            int known = 0;
            for (int i = 0; i < o->n && !known; i++) known = strcmp(o->names[i], k) == 0;
            if (!known && ol_arg_closest(k, one, 1)) {
                push_unknown(L, k, one, 1);
                opts_raise(o, lua_tostring(L, -1));
            }
        }
    }
    ol_opt_error(o, "option '%s' is required", name);
}

void ol_opt_require(ol_opts *o, const char *name) {
    int present = ol_opt_push(o, name);
    lua_pop(o->L, 1);
    if (!present) missing(o, name);
}

/* Raises unless the number at the stack top is finite (or r allows
 * infinities) and within r. what: "a number" or "an integer", for the
 * message. */
static void check_range(ol_opts *o, const char *name, const char *what, ol_range r) {
    lua_State *L = o->L;
    double v = lua_tonumber(L, -1);
    char range[96], want[128];
    range_phrase(range, sizeof range, r, strcmp(what, "an integer") == 0);
    if (v != v || (!r.inf_ok && (v == HUGE_VAL || v == -HUGE_VAL))) {
        snprintf(want, sizeof want, "%s%s%s", strcmp(what, "a number") == 0 ? "a finite number" : what,
                 range[0] ? " " : "", range);
        ol_opt_expected(o, name, want, -1);
    }
    if ((r.lo_open ? v <= r.lo : v < r.lo) || (r.hi_open ? v >= r.hi : v > r.hi))
        ol_opt_expected(o, name, range, -1);
}

/* Type error for a number-like option with its range in the want. */
static void number_expected(ol_opts *o, const char *name, const char *what, ol_range r) {
    char range[96], want[128];
    range_phrase(range, sizeof range, r, strcmp(what, "an integer") == 0);
    snprintf(want, sizeof want, "%s%s%s", what, range[0] ? " " : "", range);
    ol_opt_expected(o, name, want, -1);
}

lua_Number ol_opt_number(ol_opts *o, const char *name, lua_Number def, ol_range r) {
    lua_State *L = o->L;
    if (!ol_opt_push(o, name)) {
        lua_pop(L, 1);
        return def;
    }
    if (lua_type(L, -1) != LUA_TNUMBER) number_expected(o, name, "a number", r);
    check_range(o, name, "a number", r);
    lua_Number v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

lua_Integer ol_opt_integer(ol_opts *o, const char *name, lua_Integer def, lua_Integer lo,
                           lua_Integer hi) {
    lua_State *L = o->L;
    ol_range r = {lo == LUA_MININTEGER ? -HUGE_VAL : (double)lo,
                  hi == LUA_MAXINTEGER ? HUGE_VAL : (double)hi, 0, 0, 0};
    if (!ol_opt_push(o, name)) {
        lua_pop(L, 1);
        return def;
    }
    int ok = 0;
    lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
    if (!ok) number_expected(o, name, "an integer", r);
    if (v < lo || v > hi) {
        char range[96];
        range_phrase(range, sizeof range, r, 1);
        ol_opt_expected(o, name, range, -1);
    }
    lua_pop(L, 1);
    return v;
}

int ol_opt_bool(ol_opts *o, const char *name, int def) {
    lua_State *L = o->L;
    if (!ol_opt_push(o, name)) {
        lua_pop(L, 1);
        return def;
    }
    if (!lua_isboolean(L, -1)) ol_opt_expected(o, name, "a boolean", -1);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *ol_opt_string(ol_opts *o, const char *name, const char *def) {
    lua_State *L = o->L;
    if (!ol_opt_push(o, name)) {
        lua_pop(L, 1);
        return def;
    }
    if (lua_type(L, -1) != LUA_TSTRING) ol_opt_expected(o, name, "a string", -1);
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the options table */
    return v;
}

/* The index of the string at the stack top in choices, or raises naming
 * the choices (and the closest of them). */
static int check_choice(ol_opts *o, const char *name, const char *const *choices) {
    lua_State *L = o->L;
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        for (int i = 0; choices[i]; i++)
            if (strcmp(choices[i], s) == 0) return i;
    }
    push_choices(L, choices);
    const char *close = NULL;
    if (lua_type(L, -2) == LUA_TSTRING) close = ol_arg_closest(lua_tostring(L, -2), choices, -1);
    push_got(L, -2);
    if (close) lua_pushfstring(L, "option '%s' must be %s, got %s; did you mean '%s'?", name,
                               lua_tostring(L, -2), lua_tostring(L, -1), close);
    else lua_pushfstring(L, "option '%s' must be %s, got %s", name, lua_tostring(L, -2), lua_tostring(L, -1));
    return opts_raise(o, lua_tostring(L, -1));
}

int ol_opt_enum(ol_opts *o, const char *name, int def, const char *const *choices) {
    lua_State *L = o->L;
    if (!ol_opt_push(o, name)) {
        lua_pop(L, 1);
        if (def < 0) missing(o, name);
        return def;
    }
    int k = check_choice(o, name, choices);
    lua_pop(L, 1);
    return k;
}

ol_dtype ol_opt_dtype(ol_opts *o, const char *name, ol_dtype def) {
    const ol_dtype dts[] = {OL_F32, OL_F64};
    const char *const names[] = {ol_dtype_name(OL_F32), ol_dtype_name(OL_F64), NULL};
    if (!ol_opt_push(o, name)) {
        lua_pop(o->L, 1);
        return def;
    }
    ol_dtype dt = dts[check_choice(o, name, names)];
    lua_pop(o->L, 1);
    return dt;
}

int ol_opt_table(ol_opts *o, const char *name) {
    if (!ol_opt_push(o, name)) return 0;
    if (!lua_istable(o->L, -1)) ol_opt_expected(o, name, "a table", -1);
    return 1;
}

static int is_callable(lua_State *L, int idx) {
    if (lua_isfunction(L, idx)) return 1;
    if (luaL_getmetafield(L, idx, "__call") == LUA_TNIL) return 0;
    lua_pop(L, 1);
    return 1;
}

int ol_opt_function(ol_opts *o, const char *name) {
    if (!ol_opt_push(o, name)) return 0;
    if (!is_callable(o->L, -1)) ol_opt_expected(o, name, "a function", -1);
    return 1;
}

ol_tensor *ol_opt_tensor(ol_opts *o, const char *name) {
    lua_State *L = o->L;
    if (!ol_opt_push(o, name)) {
        lua_pop(L, 1);
        return NULL;
    }
    ol_tensor *t = ol_l_totensor(L, -1);
    if (!t) ol_opt_expected(o, name, "a tensor", -1);
    lua_pop(L, 1); /* still referenced by the options table */
    return t;
}

void ol_opts_end(ol_opts *o) {
    lua_State *L = o->L;
    if (!o->idx) return;
    lua_Integer len = (o->flags & OL_OPTS_LIST) ? (lua_Integer)lua_rawlen(L, o->idx) : 0;
    lua_pushnil(L);
    while (lua_next(L, o->idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            int known = 0;
            for (int i = 0; i < o->n && !known; i++) known = strcmp(o->names[i], k) == 0;
            if (known) continue;
            push_unknown(L, k, o->names, o->n);
            opts_raise(o, lua_tostring(L, -1));
        }
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= len) continue;
        push_got(L, -1);
        lua_pushfstring(L, "unexpected entry [%s] (options are named: name = value)", lua_tostring(L, -1));
        opts_raise(o, lua_tostring(L, -1));
    }
}

/* ---- ol._args: the Lua side ---- */

enum {
    K_NUMBER = 1 << 0, K_INTEGER = 1 << 1, K_BOOLEAN = 1 << 2, K_STRING = 1 << 3,
    K_TABLE = 1 << 4, K_FUNCTION = 1 << 5, K_TENSOR = 1 << 6, K_ANY = 1 << 7,
};

static const struct {
    const char *name, *phrase;
    unsigned bit;
} kinds[] = {
    {"number", "a number", K_NUMBER},     {"integer", "an integer", K_INTEGER},
    {"boolean", "a boolean", K_BOOLEAN},  {"string", "a string", K_STRING},
    {"table", "a table", K_TABLE},        {"function", "a function", K_FUNCTION},
    {"tensor", "a tensor", K_TENSOR},     {"any", "any value", K_ANY},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

/* The kind bits of "number|function". */
static unsigned parse_kinds(lua_State *L, const char *s, const char *name) {
    unsigned bits = 0;
    while (*s) {
        size_t len = strcspn(s, "|");
        unsigned b = 0;
        for (size_t i = 0; i < NKINDS && !b; i++)
            if (strlen(kinds[i].name) == len && strncmp(kinds[i].name, s, len) == 0) b = kinds[i].bit;
        if (!b) luaL_error(L, "ol._args: option '%s' has an unknown kind '%s'", name, s);
        bits |= b;
        s += len + (s[len] == '|');
    }
    return bits;
}

/* A number with an integer value that fits a lua_Integer. */
static int integral(lua_State *L, int vidx) {
    if (lua_isinteger(L, vidx)) return 1;
    double v = lua_tonumber(L, vidx);
    return v == floor(v) && fabs(v) < 0x1p63;
}

static int matches(lua_State *L, int vidx, unsigned bits) {
    int t = lua_type(L, vidx);
    return (bits & K_ANY) || ((bits & K_NUMBER) && t == LUA_TNUMBER) ||
           ((bits & K_INTEGER) && t == LUA_TNUMBER && integral(L, vidx)) ||
           ((bits & K_BOOLEAN) && t == LUA_TBOOLEAN) || ((bits & K_STRING) && t == LUA_TSTRING) ||
           ((bits & K_TABLE) && t == LUA_TTABLE) || ((bits & K_FUNCTION) && is_callable(L, vidx)) ||
           ((bits & K_TENSOR) && ol_l_totensor(L, vidx));
}

/* Reads a number field of the spec entry at e into *v; returns whether present. */
static int spec_num(lua_State *L, int e, const char *field, double *v) {
    int t = lua_getfield(L, e, field);
    if (t != LUA_TNIL) {
        if (t != LUA_TNUMBER) luaL_error(L, "ol._args: '%s' of a spec must be a number", field);
        *v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return t != LUA_TNIL;
}

/* Checks the value at the stack top against the spec entry at e (option
 * name), replacing it by the value to store (integers made integer). */
static void check_spec(ol_opts *o, const char *name, int e) {
    lua_State *L = o->L;
    int v = lua_gettop(L);
    if (lua_rawgeti(L, e, 1) != LUA_TSTRING) luaL_error(L, "ol._args: option '%s' needs a kind", name);
    unsigned bits = parse_kinds(L, lua_tostring(L, -1), name);
    lua_pop(L, 1);
    ol_range r = OL_R_ANY;
    double x;
    if (spec_num(L, e, "min", &x)) r.lo = x;
    if (spec_num(L, e, "gt", &x)) r.lo = x, r.lo_open = 1;
    if (spec_num(L, e, "max", &x)) r.hi = x;
    if (spec_num(L, e, "lt", &x)) r.hi = x, r.hi_open = 1;
    lua_getfield(L, e, "inf");
    r.inf_ok = (unsigned char)lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* one_of: an enumeration of strings (the strings stay in the spec). */
    const char *choices[33];
    int nch = 0;
    if (lua_getfield(L, e, "one_of") == LUA_TTABLE) {
        for (; nch < 32 && lua_rawgeti(L, -1, nch + 1) == LUA_TSTRING; nch++) {
            choices[nch] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    choices[nch] = NULL;

    if (!matches(L, v, bits)) {
        luaL_Buffer b;
        char range[96];
        range_phrase(range, sizeof range, r, !(bits & K_NUMBER));
        luaL_buffinit(L, &b);
        int first = 1;
        for (size_t i = 0; i < NKINDS; i++) {
            if (!(bits & kinds[i].bit)) continue;
            if (!first) luaL_addstring(&b, " or ");
            first = 0;
            if (kinds[i].bit == K_STRING && nch) {
                push_choices(L, choices);
                luaL_addvalue(&b);
            } else {
                luaL_addstring(&b, kinds[i].phrase);
            }
            if ((kinds[i].bit & (K_NUMBER | K_INTEGER)) && range[0]) {
                luaL_addchar(&b, ' ');
                luaL_addstring(&b, range);
            }
        }
        luaL_pushresult(&b);
        ol_opt_expected(o, name, lua_tostring(L, -1), v);
    }
    if (lua_type(L, v) == LUA_TNUMBER && (bits & (K_NUMBER | K_INTEGER))) {
        lua_pushvalue(L, v);
        check_range(o, name, (bits & K_NUMBER) ? "a number" : "an integer", r);
        lua_pop(L, 1);
        if (!(bits & K_NUMBER) && !lua_isinteger(L, v)) {
            lua_pushinteger(L, (lua_Integer)lua_tonumber(L, v));
            lua_replace(L, v);
        }
    }
    if (nch && lua_type(L, v) == LUA_TSTRING) check_choice(o, name, choices);
    lua_settop(L, v);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ol._args.options(fname, arg, opts, spec [, level]) -> checked copy */
static int l_options(lua_State *L) {
    const char *fname = luaL_checkstring(L, 1);
    int arg = (int)luaL_checkinteger(L, 2);
    luaL_checktype(L, 4, LUA_TTABLE);
    int level = (int)luaL_optinteger(L, 5, 2);
    lua_settop(L, 4);
    ol_opts o;
    memset(&o, 0, sizeof o);
    o.L = L;
    o.fname = fname;
    o.arg = arg;
    o.level = level;
    if (lua_istable(L, 3)) o.idx = 3;
    else if (!lua_isnil(L, 3)) {
        lua_pushfstring(L, "options table expected, got %s", type_name(L, 3));
        return raise_at(L, level, arg, fname, lua_tostring(L, -1));
    }
    /* The spec's names, sorted: messages and defaults do not depend on
     * the order of a Lua table. */
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "ol._args: spec keys must be option names");
        note(&o, lua_tostring(L, -1));
    }
    qsort(o.names, (size_t)o.n, sizeof o.names[0], cmp_names);
    ol_opts_end(&o);
    lua_createtable(L, 0, o.n); /* 5: the result */
    for (int i = 0; i < o.n; i++) {
        const char *name = o.names[i];
        lua_getfield(L, 4, name); /* 6: the spec entry */
        if (!lua_istable(L, 6)) return luaL_error(L, "ol._args: spec of '%s' must be a table", name);
        if (o.idx) lua_getfield(L, 3, name);
        else lua_pushnil(L);
        if (lua_isnil(L, -1)) {
            lua_getfield(L, 6, "required");
            int required = lua_toboolean(L, -1);
            lua_pop(L, 2);
            if (required) missing(&o, name);
            lua_getfield(L, 6, "default");
        } else {
            check_spec(&o, name, 6);
        }
        lua_setfield(L, 5, name);
        lua_pop(L, 1);
    }
    return 1;
}

/* ol._args.error(fname, arg, msg [, level]) */
static int l_error(lua_State *L) {
    const char *fname = luaL_checkstring(L, 1);
    int arg = (int)luaL_checkinteger(L, 2);
    const char *msg = luaL_checkstring(L, 3);
    int level = (int)luaL_optinteger(L, 4, 2);
    return raise_at(L, level, arg, fname, msg);
}

/* ol._args.closest(key, {names...}) -> the name key is most likely a
 * misspelling of (ol_arg_closest), or nil: for did-you-mean messages
 * about values, such as a choice's name. */
static int l_closest(lua_State *L) {
    const char *key = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *names[OL_OPTS_MAX];
    int n = 0;
    while (n < OL_OPTS_MAX) {
        const int is_string = lua_rawgeti(L, 2, n + 1) == LUA_TSTRING;
        if (is_string) names[n++] = lua_tostring(L, -1); /* kept alive by the table */
        lua_pop(L, 1);
        if (!is_string) break;
    }
    const char *best = ol_arg_closest(key, names, n);
    if (best) lua_pushstring(L, best);
    else lua_pushnil(L);
    return 1;
}

/* ol._args.typename(v): v's type as the "X expected, got TYPE" messages
 * name it (a metatable's __name, else the type); ol._args.got(v): v as the
 * "option 'x' must be ..., got V" messages show it. For the Lua-side
 * modules' own checks, so that their messages read as the kit's. */
static int l_typename(lua_State *L) {
    luaL_checkany(L, 1);
    lua_pushstring(L, type_name(L, 1));
    return 1;
}

static int l_got(lua_State *L) {
    luaL_checkany(L, 1);
    push_got(L, 1);
    return 1;
}

void ol_open_args(lua_State *L) {
    static const luaL_Reg funcs[] = {{"options", l_options}, {"error", l_error}, {"closest", l_closest},
                                     {"typename", l_typename}, {"got", l_got}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    lua_setfield(L, -2, "_args");
}
