/* The argument kit every binding uses: one formatter for argument errors
 * and strict readers of option tables.
 *
 * Errors read as luaL_argerror's: `bad argument #2 to 'loader' (...)`.
 * Argument numbers are STACK indices; when the running C function was
 * called as a method (obj:f(...)), self is not counted, as luaL_argerror
 * does, and an error in self itself reads `calling 'f' on bad self (...)`.
 * Functions are named by the Lua-visible name the binding passes (fname):
 * Lua's call information has no name for a function reached through a
 * table inside a table or called through pcall, so the kit never relies
 * on it, except where fname is NULL (helpers shared by many functions,
 * such as the tensor argument checks), which name the function as
 * luaL_argerror does.
 *
 * Option tables are read in the begin/get/end form:
 *
 *     ol_opts o;
 *     ol_opts_begin(L, &o, 2, "loader", 0);
 *     lua_Integer bs = ol_opt_integer(&o, "batch_size", 128, 1, LUA_MAXINTEGER);
 *     int shuffle = ol_opt_bool(&o, "shuffle", 1);
 *     ol_opts_end(&o);
 *
 * Each getter checks the type and range of one option and records its
 * name; ol_opts_end rejects every key of the table that no getter asked
 * for: `bad argument #2 to 'loader' (unknown option 'batchsize'; did you
 * mean 'batch_size'?)`. A binding therefore reads every option it accepts
 * before ol_opts_end, whether or not this call uses it, and the getters are
 * the one place its option names are written.
 *
 * Messages, for an option `x` (the same from Lua through ol._args):
 *   option 'x' must be a number, got string        (wrong type)
 *   option 'x' must be an integer >= 1, got 2.5    (wrong type, with range)
 *   option 'x' must be >= 1, got 0                 (out of range)
 *   option 'x' must be a finite number, got inf    (numbers are finite)
 *   option 'x' must be 'min' or 'max', got 'up'    (enumerations)
 *   option 'x' is required
 *   unknown option 'x'; did you mean 'y'?  /  unknown option 'x'; expected one of a, b, c */
#ifndef OL_L_ARGS_H
#define OL_L_ARGS_H

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdarg.h>

#include "core/tensor.h"

/* ---- the formatter ---- */

/* Raises `bad argument #arg to 'fname' (fmt...)` at the caller's position,
 * self discounted as above; arg <= 0 (no argument to blame) gives
 * `bad call to 'fname' (...)`. fmt is printf's. Never returns. */
int ol_arg_error(lua_State *L, int arg, const char *fname, const char *fmt, ...);
int ol_arg_verror(lua_State *L, int arg, const char *fname, const char *fmt, va_list ap);

/* Raises `bad argument #arg to 'fname' (WHAT expected, got TYPE)`, TYPE as
 * luaL_typeerror names it (a metatable's __name, else the type). */
int ol_arg_expected(lua_State *L, int arg, const char *fname, const char *what);

/* Raises `bad argument #arg to 'fname' (unknown option 'key'; did you mean
 * 'x'?)` with the closest of names[0..n) (n < 0: names is NULL-terminated),
 * or listing the names when none is close. */
int ol_arg_unknown(lua_State *L, int arg, const char *fname, const char *key,
                   const char *const *names, int n);
/* The entry of names[0..n) (n < 0: NULL-terminated) that key is most likely
 * a misspelling of, or NULL: within Damerau-Levenshtein distance 1 (keys
 * of up to 4 characters) or 2, ignoring case, and less than the longer
 * length (so "x" suggests nothing for "n"); or one a prefix of the other
 * (the shorter at least 3 characters long). The closest wins; ties go to
 * the earlier name. */
const char *ol_arg_closest(const char *key, const char *const *names, int n);

/* ---- numeric ranges ---- */

/* lo..hi, each end closed or open; numbers must also be finite unless
 * inf_ok. Integers use closed ends only. */
typedef struct ol_range {
    double lo, hi;
    unsigned char lo_open, hi_open, inf_ok;
} ol_range;

#define OL_R_ANY ((ol_range){-HUGE_VAL, HUGE_VAL, 0, 0, 0})
#define OL_R_GE(a) ((ol_range){(a), HUGE_VAL, 0, 0, 0})
#define OL_R_GT(a) ((ol_range){(a), HUGE_VAL, 1, 0, 0})
#define OL_R_IN(a, b) ((ol_range){(a), (b), 0, 0, 0})     /* [a, b] */
#define OL_R_IN_CO(a, b) ((ol_range){(a), (b), 0, 1, 0})  /* [a, b) */
#define OL_R_IN_OO(a, b) ((ol_range){(a), (b), 1, 1, 0})  /* (a, b) */

/* ---- option tables ---- */

#define OL_OPTS_MAX 40

enum {
    OL_OPTS_REQUIRED = 1, /* the table must be there (else nil means all defaults) */
    OL_OPTS_LIST = 2,     /* keys 1..#t are allowed too (ol.nn.sequential{layer, ..., dtype = }) */
};

typedef struct ol_opts {
    lua_State *L;
    int idx;            /* absolute stack index of the table, 0 when there is none */
    int arg;            /* the argument blamed: the table's stack index */
    int level;          /* 0: a C binding (self discounted); else the luaL_where level (ol._args) */
    const char *fname;
    int flags;
    int n;
    const char *names[OL_OPTS_MAX]; /* every option asked for, in order */
} ol_opts;

/* Starts reading the options table at stack index idx of function fname:
 * nil or none is an empty table unless OL_OPTS_REQUIRED; anything else is
 * `options table expected, got X`. */
void ol_opts_begin(lua_State *L, ol_opts *o, int idx, const char *fname, int flags);
/* Rejects the keys no getter asked for (see the top). */
void ol_opts_end(ol_opts *o);

/* The getters: def when the option is absent (nil). */
lua_Number ol_opt_number(ol_opts *o, const char *name, lua_Number def, ol_range r);
lua_Integer ol_opt_integer(ol_opts *o, const char *name, lua_Integer def, lua_Integer lo,
                           lua_Integer hi);
int ol_opt_bool(ol_opts *o, const char *name, int def);
/* The string stays valid while the options table holds it. */
const char *ol_opt_string(ol_opts *o, const char *name, const char *def);
/* The index in choices (NULL-terminated) of the option's value, def (an
 * index, or -1) when absent. */
int ol_opt_enum(ol_opts *o, const char *name, int def, const char *const *choices);
ol_dtype ol_opt_dtype(ol_opts *o, const char *name, ol_dtype def);
/* Push the option's value, a table / a function or callable / anything,
 * or nil when absent; return whether it is present. */
int ol_opt_table(ol_opts *o, const char *name);
int ol_opt_function(ol_opts *o, const char *name);
int ol_opt_push(ol_opts *o, const char *name);
/* The tensor option, NULL when absent (the options table keeps it alive). */
ol_tensor *ol_opt_tensor(ol_opts *o, const char *name);

/* Raises `option 'name' is required` when the option is absent. */
void ol_opt_require(ol_opts *o, const char *name);
/* Raises `option 'name' must be WANT, got <the value at vidx>`. */
int ol_opt_expected(ol_opts *o, const char *name, const char *want, int vidx);
/* Raises `bad argument #arg to 'fname' (fmt...)` for the options table, for
 * rules between options (`option 'up' must be <= period`). */
int ol_opt_error(ol_opts *o, const char *fmt, ...);

/* Adds ol._args, the same checks for the Lua-side modules:
 *   ol._args.options(fname, arg, opts, spec [, level]) -> checked copy
 *     spec: {name = {kind [, default =] [, required = true] [, min =, gt =,
 *            max =, lt =, inf = true] [, one_of = {...}]}, ...};
 *     kind: "number", "integer", "boolean", "string", "table", "function"
 *     (or callable), "tensor", "any", or several joined by "|".
 *   ol._args.error(fname, arg, msg [, level])
 *   ol._args.closest(key, names) -> the name of the list names that key is
 *     most likely a misspelling of (ol_arg_closest), or nil
 *   ol._args.typename(v) -> v's type as "X expected, got TYPE" names it
 *   ol._args.got(v) -> v as "option 'x' must be ..., got V" shows it
 * level is error()'s: 2 (the default) blames the caller of the function
 * that calls ol._args; arguments are counted as given (no self discount). */
void ol_open_args(lua_State *L);

#endif
