/* The optlua program: the command line of the stock Lua 5.4 interpreter
 * (lua.c from lua.org, whose structure this follows: collectargs checks
 * every option first, createargtable builds `arg`, runargs then runs -e and
 * -l in order, the script runs with its arguments as `...`) with the
 * engine preloaded and two options of its own, --threads and --seed.
 *
 *   optlua [options] [script.lua [args...]]   (see usage() below)
 *
 * Exit status: 0 on success, 1 on a bad option or any error, which is
 * printed on stderr with a traceback. */
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l_optlua.h"
#include "repl.h"
#include "core/rng.h"
#include "core/threads.h"

static const char *progname = "optlua";

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s [options] [script.lua [args...]]\n"
            "Available options are:\n"
            "  -e CODE        run CODE\n"
            "  -l NAME        require NAME, bind global NAME (-l g=mod binds g)\n"
            "  -i             REPL after the script\n"
            "  -              read the script from stdin\n"
            "  --             stop handling options\n"
            "  -v, --version  print version\n"
            "  -h, --help     print this usage\n"
            "  --threads N    BLAS/engine threads (default: all cores; 0: all cores)\n"
            "  --seed N       seed the global RNG before the script runs\n"
            "With no script: the REPL if stdin is a terminal, else stdin runs as a script.\n",
            progname);
    fflush(f);
}

/* One line: the version, Lua's, OpenBLAS's build as openblas_get_config
 * says it ("OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY ..."), and the core
 * whose kernels OpenBLAS chose for this CPU (openblas_get_corename). */
static void print_version(void) {
    printf("optlua %s (%s, %s, %s core)\n", OL_VERSION, LUA_RELEASE, ol_blas_config(), ol_blas_core());
    fflush(stdout);
}

/* ---- the options ---- */

enum { HAS_ERROR = 1, HAS_I = 2, HAS_V = 4, HAS_E = 8, HAS_H = 16 };

/* An option taking a value: "--name V" or "--name=V". Returns the value
 * (advancing *i past a separate one) or NULL when the option is not `name`;
 * *missing is set when it is but has no value. */
static const char *long_value(char **argv, int *i, const char *name, int *missing) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != '\0') return NULL;
    if (argv[*i + 1] == NULL) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* Whole-string decimal integer in [lo, hi]. */
static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int bad_option(const char *fmt, const char *opt) {
    fprintf(stderr, "%s: ", progname);
    fprintf(stderr, fmt, opt);
    fputc('\n', stderr);
    usage(stderr);
    return HAS_ERROR;
}

/* Checks every option before anything runs (as lua.c), so that a typo in
 * the last one does not leave the first half executed. *first: index of
 * the script in argv (argc when there is none). */
static int collectargs(char **argv, int *first) {
    int args = 0, i;
    for (i = 1; argv[i] != NULL; i++) {
        *first = i;
        const char *a = argv[i];
        if (a[0] != '-') return args; /* the script */
        switch (a[1]) {
        case '\0': /* "-": the script is stdin */
            return args;
        case '-': {
            if (a[2] == '\0') { /* "--": options end here */
                *first = i + 1;
                return args;
            }
            int missing = 0;
            long long v;
            const char *val;
            if (strcmp(a, "--version") == 0) {
                args |= HAS_V;
            } else if (strcmp(a, "--help") == 0) {
                args |= HAS_H;
            } else if ((val = long_value(argv, &i, "--threads", &missing)) || missing) {
                if (missing) return bad_option("'%s' needs an argument", a);
                if (!parse_int(val, 0, 4096, &v))
                    return bad_option("bad thread count '%s' (an integer >= 0; 0: all cores)", val);
            } else if ((val = long_value(argv, &i, "--seed", &missing)) || missing) {
                if (missing) return bad_option("'%s' needs an argument", a);
                if (!parse_int(val, INT64_MIN, INT64_MAX, &v))
                    return bad_option("bad seed '%s' (a 64-bit integer)", val);
            } else {
                return bad_option("unrecognized option '%s'", a);
            }
            break;
        }
        case 'i':
            args |= HAS_I;
            /* fall through */
        case 'v':
        case 'h':
            if (a[2] != '\0') return bad_option("unrecognized option '%s'", a);
            args |= a[1] == 'h' ? HAS_H : a[1] == 'v' ? HAS_V : 0;
            break;
        case 'e':
            args |= HAS_E;
            /* fall through */
        case 'l':
            if (a[2] == '\0') { /* value in the next argument */
                i++;
                if (argv[i] == NULL || argv[i][0] == '-')
                    return bad_option("'%s' needs an argument", a);
            }
            break;
        default:
            return bad_option("unrecognized option '%s'", a);
        }
    }
    *first = i;
    return args;
}

/* arg[0] = script, arg[1..] = its arguments, arg[-1..] = the interpreter
 * and the options; with no script, arg[0] is the interpreter (as lua.c). */
static void createargtable(lua_State *L, char **argv, int argc, int script) {
    if (script == argc) script = 0;
    lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status) {
    if (status == LUA_OK) status = ol_docall(L, 0, 0);
    return ol_report(L, status, progname);
}

static int dostring(lua_State *L, const char *s, const char *name) {
    return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l NAME: NAME = require "NAME"; -l G=MOD: G = require "MOD". */
static int dolibrary(lua_State *L, const char *spec) {
    const char *eq = strchr(spec, '=');
    const char *modname = eq ? eq + 1 : spec;
    lua_getglobal(L, "require");
    lua_pushstring(L, modname);
    int status = ol_docall(L, 1, 1);
    if (status == LUA_OK) {
        if (eq)
            lua_pushlstring(L, spec, (size_t)(eq - spec));
        else
            lua_pushstring(L, spec);
        lua_insert(L, -2);
        lua_setglobal(L, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    return ol_report(L, status, progname);
}

/* Runs -e, -l, --threads and --seed in command-line order (already
 * checked by collectargs). Returns 0 when one of them failed. */
static int runargs(lua_State *L, char **argv, int n) {
    for (int i = 1; i < n; i++) {
        const char *a = argv[i];
        if (a[1] == 'e' || a[1] == 'l') {
            const char *extra = a + 2;
            if (*extra == '\0') extra = argv[++i];
            int status = a[1] == 'e' ? dostring(L, extra, "=(command line)") : dolibrary(L, extra);
            if (status != LUA_OK) return 0;
        } else if (a[1] == '-') {
            int missing = 0;
            long long v = 0;
            const char *val;
            if ((val = long_value(argv, &i, "--threads", &missing)) && parse_int(val, 0, 4096, &v))
                ol_set_threads((int)v);
            else if ((val = long_value(argv, &i, "--seed", &missing)) &&
                     parse_int(val, INT64_MIN, INT64_MAX, &v))
                ol_rng_seed((uint64_t)v); /* as ol.seed(v) does with an integer */
        }
    }
    return 1;
}

/* Pushes arg[1..#arg] for the script's `...`. */
static int pushargs(lua_State *L) {
    if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
    lua_remove(L, -n - 1);
    return n;
}

static int handle_script(lua_State *L, char **argv) {
    const char *fname = argv[0];
    if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL; /* stdin */
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = pushargs(L);
        status = ol_docall(L, n, LUA_MULTRET);
    }
    return ol_report(L, status, progname);
}

/* The engine preloaded: the globals `optlua` and `ol` (the short name every
 * help text uses) and package.loaded.optlua are the one library table. */
static void open_optlua(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    ol_luaopen(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "optlua");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "ol");
    lua_setglobal(L, "optlua");
    lua_pop(L, 1);
}

/* Everything runs in protected mode so that even a memory error while
 * setting up is reported and the state is closed. Pushes true on success. */
static int pmain(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    int script = argc;
    luaL_checkversion(L);
    int args = collectargs(argv, &script);
    if (args & HAS_ERROR) return 0;
    if (args & HAS_H) {
        usage(stdout);
        lua_pushboolean(L, 1);
        return 1;
    }
    if (args & HAS_V) print_version();
    /* No --threads: OpenBLAS's own default stands, all cores unless
     * OPENBLAS_NUM_THREADS says otherwise (the usual way to pin BLAS). */
    luaL_openlibs(L);
    open_optlua(L);
    createargtable(L, argv, argc, script);
    /* The collector stays in Lua's default incremental mode: the tensor
     * binding reports its outside-the-heap storage with LUA_GCSTEP. */
    if (!runargs(L, argv, script)) return 0;
    if (script < argc && handle_script(L, argv + script) != LUA_OK) return 0;
    if (args & HAS_I) {
        ol_repl(L);
    } else if (script == argc && !(args & (HAS_E | HAS_V))) {
        if (isatty(STDIN_FILENO))
            ol_repl(L);
        else if (dochunk(L, luaL_loadfile(L, NULL)) != LUA_OK)
            return 0;
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv) {
    if (argv[0] && argv[0][0]) progname = argv[0];
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "%s: cannot create state: not enough memory\n", progname);
        return EXIT_FAILURE;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int ok = lua_toboolean(L, -1);
    ol_report(L, status, progname);
    lua_close(L);
    fflush(stdout);
    return (ok && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
