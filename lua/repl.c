/* The read-eval-print loop, after the stock Lua 5.4 interpreter (lua.c):
 *
 *  - a line is first compiled as `return <line>` so that bare expressions
 *    print their values, tab-separated: tables without a __tostring by
 *    ol.inspect (nested, limited in depth and length), anything else by
 *    luaL_tolstring (tensors pretty-print); `=expr` is `return expr`. A
 *    value the statement printed already (ol.compare prints its table and
 *    returns it) is not printed again: such a function puts its result in
 *    ol._printed, a set the REPL renews before each statement;
 *  - otherwise it is compiled as a statement; a syntax error ending in
 *    "<eof>" means the statement is incomplete, and the next line (read
 *    with the continuation prompt ">> ") is appended;
 *  - errors get a traceback from a message handler (luaL_traceback);
 *  - Ctrl-C while a chunk runs sets a count hook that raises
 *    "interrupted!" at the next Lua instruction (signal handlers may do
 *    little else safely; lua_sethook is the one call lua.c trusts there).
 *
 * On a terminal, lines come from GNU readline's callback interface driven
 * by pselect, so that Ctrl-C at the prompt (SIGINT) just discards the line:
 * readline's own signal handling is off, SIGINT is blocked everywhere but
 * inside pselect, and the handler only sets a flag. History is kept in
 * $OPTLUA_HISTORY or ~/.optlua_history (last HISTORY_MAX entries, appended
 * after every statement so that os.exit() loses nothing): one entry per
 * statement as typed, a statement of several lines as one entry with its
 * newlines. The file holds each entry after a `#<seconds>` timestamp line,
 * which is how readline reads an entry of several lines back whole (a file
 * without them, one entry per line, is rewritten so at the start).
 * Completion walks the dotted path from _G, through the metatables'
 * __index tables, the __methods of userdata and what __pairs gives
 * (an optimizer's options). Without a terminal (a pipe with -i) lines are
 * read with getline, prompts are still printed, and no history is kept. */
#include "repl.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "embedded.h"

#define PROMPT1 "> "
#define PROMPT2 ">> "
#define HISTORY_MAX 1000
#define EOFMARK "<eof>"

/* The program's only globals (readline's and the signal handlers' callbacks
 * take no user pointer): the state a SIGINT interrupts and the REPL's state
 * for completion. */
static lua_State *volatile interrupted_L = NULL;
static lua_State *completion_L = NULL;
static volatile sig_atomic_t got_sigint = 0;

/* ---- running a chunk ---- */

static void lstop(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* SIGINT during a call: stop at the next Lua instruction. The default action
 * is restored first, so that a second Ctrl-C ends a program stuck in C. */
static void laction(int sig) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    lua_sethook(interrupted_L, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* Error objects that are not strings use their __tostring, else say what
 * they are (as lua.c). */
static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int ol_docall(lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    interrupted_L = L;
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = laction;
    sigemptyset(&act.sa_mask);
    sigaction(SIGINT, &act, &old);
    int status = lua_pcall(L, narg, nres, base);
    sigaction(SIGINT, &old, NULL);
    /* A Ctrl-C that came as the call returned leaves the hook armed; it
     * must not interrupt whatever runs next. */
    if (lua_gethook(L) == lstop) lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    return status;
}

int ol_report(lua_State *L, int status, const char *progname) {
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg == NULL) msg = "(error object is not a string)";
        fflush(stdout);
        if (progname) fprintf(stderr, "%s: ", progname);
        fprintf(stderr, "%s\n", msg);
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

/* ---- reading lines ---- */

enum { LINE_OK = 1, LINE_EOF = 0, LINE_INTERRUPTED = -1 };

typedef struct repl {
    int tty;              /* stdin is a terminal: readline */
    const char *histfile; /* NULL: no history file */
    char *line;           /* readline's answer, set by on_line */
    int line_done;
} repl;

static repl *current; /* for on_line (readline's callback takes no pointer) */

static void on_sigint_at_prompt(int sig) {
    (void)sig;
    got_sigint = 1;
}

static void set_sigint(void (*handler)(int), struct sigaction *old) {
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    act.sa_flags = 0; /* no SA_RESTART: the blocking read must return EINTR */
    sigaction(SIGINT, &act, old);
}

static void on_line(char *line) {
    current->line = line;
    current->line_done = 1;
    rl_callback_handler_remove(); /* terminal back to normal while the chunk runs */
}

static int tty_readline(repl *r, const char *prompt, char **out) {
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    struct sigaction old;
    set_sigint(on_sigint_at_prompt, &old);
    got_sigint = 0;
    r->line = NULL;
    r->line_done = 0;
    current = r;
    rl_callback_handler_install(prompt, on_line);
    int result = LINE_OK;
    while (!r->line_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(STDIN_FILENO, &fds);
        /* SIGINT is deliverable only while waiting here. */
        int n = pselect(STDIN_FILENO + 1, &fds, NULL, NULL, NULL, &orig);
        if (got_sigint) {
            got_sigint = 0;
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_cleanup_after_signal();
            rl_callback_handler_remove();
            fputs("\n", rl_outstream ? rl_outstream : stdout);
            result = LINE_INTERRUPTED;
            break;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            rl_callback_handler_remove();
            break; /* stdin unusable: treat as end of input */
        }
        rl_callback_read_char();
    }
    sigaction(SIGINT, &old, NULL);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    current = NULL;
    if (result == LINE_INTERRUPTED) return result;
    *out = r->line;
    return r->line ? LINE_OK : LINE_EOF;
}

static int pipe_readline(const char *prompt, char **out) {
    fputs(prompt, stdout);
    fflush(stdout);
    struct sigaction old;
    got_sigint = 0;
    set_sigint(on_sigint_at_prompt, &old);
    char *buf = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&buf, &cap, stdin);
    sigaction(SIGINT, &old, NULL);
    /* Ctrl-C: drop whatever part of the line was read (glibc returns a
     * partial line when read() fails with EINTR after some bytes). */
    if (got_sigint || (ferror(stdin) && errno == EINTR)) {
        free(buf);
        clearerr(stdin);
        got_sigint = 0;
        fputs("\n", stdout);
        return LINE_INTERRUPTED;
    }
    if (n < 0) {
        free(buf);
        return LINE_EOF;
    }
    if (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r') buf[--n] = '\0';
    *out = buf;
    return LINE_OK;
}

/* _PROMPT / _PROMPT2 when set (as lua.c), else the defaults. Leaves the
 * prompt string on the stack. */
static const char *get_prompt(lua_State *L, int firstline) {
    if (lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushstring(L, firstline ? PROMPT1 : PROMPT2);
        return lua_tostring(L, -1);
    }
    const char *p = luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    return p;
}

/* Pushes the next line as typed. */
static int pushline(lua_State *L, repl *r, int firstline) {
    const char *prompt = get_prompt(L, firstline);
    char *line = NULL;
    int res = r->tty ? tty_readline(r, prompt, &line) : pipe_readline(prompt, &line);
    lua_pop(L, 1);
    if (res != LINE_OK) return res;
    lua_pushstring(L, line);
    free(line);
    return LINE_OK;
}

/* One history entry per statement, as typed (its lines joined by
 * newlines), appended to the file at once. */
static void saveline(repl *r, const char *typed) {
    if (!r->tty || typed[0] == '\0') return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, typed) == 0) return;
    add_history(typed);
    if (r->histfile) append_history(1, r->histfile); /* failure is not an error */
}

/* A syntax error ending in <eof>: the statement goes on. Pops the message. */
static int incomplete(lua_State *L, int status) {
    if (status == LUA_ERRSYNTAX) {
        size_t lmsg;
        const char *msg = lua_tolstring(L, -1, &lmsg);
        size_t mlen = sizeof(EOFMARK) - 1;
        if (lmsg >= mlen && strcmp(msg + lmsg - mlen, EOFMARK) == 0) {
            lua_pop(L, 1);
            return 1;
        }
    }
    return 0;
}

/* The statement as typed at 1, its code at 2: try `return <code>;`.
 * Leaves the function instead of the code and returns LUA_OK, or leaves
 * the stack as it was. */
static int addreturn(lua_State *L) {
    const char *retline = lua_pushfstring(L, "return %s;", lua_tostring(L, 2));
    int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
    if (status == LUA_OK) {
        lua_remove(L, 3); /* retline */
        lua_remove(L, 2); /* code */
    } else {
        lua_pop(L, 2);
    }
    return status;
}

/* The statement as typed at 1, its code at 2: compile the code, reading
 * more lines (added to both) while it is incomplete. Leaves the function
 * or the error message instead of the code. Returns the load status, or
 * LINE_INTERRUPTED on Ctrl-C. */
static int multiline(lua_State *L, repl *r) {
    for (;;) {
        size_t len;
        const char *code = lua_tolstring(L, 2, &len);
        int status = luaL_loadbuffer(L, code, len, "=stdin");
        if (!incomplete(L, status)) {
            lua_remove(L, 2);
            return status;
        }
        int res = pushline(L, r, 0); /* 3 */
        if (res == LINE_INTERRUPTED) return LINE_INTERRUPTED;
        if (res == LINE_EOF) { /* report the incomplete statement as lua.c */
            status = luaL_loadbuffer(L, code, len, "=stdin");
            lua_remove(L, 2);
            return status;
        }
        lua_pushvalue(L, 1);
        lua_pushliteral(L, "\n");
        lua_pushvalue(L, 3);
        lua_concat(L, 3);
        lua_replace(L, 1); /* typed .. "\n" .. line */
        lua_pushliteral(L, "\n");
        lua_insert(L, 3);
        lua_concat(L, 3); /* code .. "\n" .. line */
    }
}

enum { READ_EOF = -100, READ_NOTHING = -101 };

/* Reads a whole statement and compiles it (function or message on the
 * stack). Returns the load status, READ_EOF or READ_NOTHING (Ctrl-C). A
 * leading '=' is `return` (as lua.c); the history keeps what was typed. */
static int loadline(lua_State *L, repl *r) {
    lua_settop(L, 0);
    int res = pushline(L, r, 1); /* 1: as typed */
    if (res == LINE_EOF) return READ_EOF;
    if (res == LINE_INTERRUPTED) return READ_NOTHING;
    const char *typed = lua_tostring(L, 1);
    if (typed[0] == '=') lua_pushfstring(L, "return %s", typed + 1); /* 2: the code */
    else lua_pushvalue(L, 1);
    int status = addreturn(L);
    if (status != LUA_OK) status = multiline(L, r);
    if (status == LINE_INTERRUPTED) return READ_NOTHING;
    saveline(r, lua_tostring(L, 1));
    lua_remove(L, 1);
    return status;
}

/* ol._printed: a fresh set before each statement (see the top). */
static void renew_printed(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, "optlua.lib");
    if (lua_istable(L, -1)) {
        lua_newtable(L);
        lua_setfield(L, -2, "_printed");
    }
    lua_pop(L, 1);
}

/* Whether the statement printed the value at i already (ol._printed). */
static int printed(lua_State *L, int i) {
    int yes = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, "optlua.lib");
    if (lua_istable(L, -1)) {
        lua_pushliteral(L, "_printed");
        if (lua_rawget(L, -2) == LUA_TTABLE && !lua_isnil(L, i)) {
            lua_pushvalue(L, i);
            yes = lua_rawget(L, -2) != LUA_TNIL;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return yes;
}

/* Pushes the text of the value at i: ol.inspect's for a table without a
 * __tostring, luaL_tolstring's for anything else. */
static const char *show(lua_State *L, int i, size_t *len) {
    if (lua_type(L, i) == LUA_TTABLE) {
        if (luaL_getmetafield(L, i, "__tostring") != LUA_TNIL) {
            lua_pop(L, 1);
        } else {
            int top = lua_gettop(L);
            lua_getfield(L, LUA_REGISTRYINDEX, "optlua.lib");
            if (lua_istable(L, -1) && lua_getfield(L, -1, "inspect") == LUA_TFUNCTION) {
                lua_pushvalue(L, i);
                lua_call(L, 1, 1);
                if (lua_type(L, -1) == LUA_TSTRING) {
                    lua_remove(L, top + 1);
                    return lua_tolstring(L, -1, len);
                }
            }
            lua_settop(L, top);
        }
    }
    return luaL_tolstring(L, i, len);
}

/* Prints the values on the stack that the statement did not print itself,
 * tab-separated, in protected mode (__tostring and ol.inspect may fail). */
static int print_values(lua_State *L) {
    int n = lua_gettop(L), shown = 0;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    for (int i = 1; i <= n; i++) {
        if (printed(L, i)) continue;
        size_t len;
        const char *s = show(L, i, &len);
        if (shown++) fputc('\t', stdout);
        fwrite(s, 1, len, stdout);
        lua_pop(L, 1);
    }
    if (shown) fputc('\n', stdout);
    return 0;
}

static void l_print(lua_State *L) {
    int n = lua_gettop(L);
    if (n == 0) return;
    lua_pushcfunction(L, print_values);
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK) {
        fflush(stdout);
        fprintf(stderr, "error calling 'print' (%s)\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    fflush(stdout);
}

/* ---- completion ---- */

static const char *const keywords[] = {
    "and",  "break", "do",       "else", "elseif", "end",    "false", "for",   "function", "goto", "if",
    "in",   "local", "nil",      "not",  "or",     "repeat", "return", "then", "true",     "until", "while",
    NULL};

static int is_name(const char *s, size_t n) {
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

/* Adds the key below the value at the stack top to the set when it is a
 * name starting with part (and the value a function when methods_only). */
static void add_key(lua_State *L, int set, const char *part, int methods_only) {
    size_t klen;
    if (lua_type(L, -2) != LUA_TSTRING) return;
    const char *k = lua_tolstring(L, -2, &klen);
    if (is_name(k, klen) && strncmp(k, part, strlen(part)) == 0 &&
        (!methods_only || lua_type(L, -1) == LUA_TFUNCTION)) {
        lua_pushvalue(L, -2);
        lua_pushboolean(L, 1);
        lua_rawset(L, set);
    }
}

/* The keys pairs(x) gives for x at t through its __pairs metamethod (the
 * live fields of a userdata, such as an optimizer's options). */
static void add_pairs_keys(lua_State *L, int t, int set, const char *part, int methods_only) {
    if (luaL_getmetafield(L, t, "__pairs") == LUA_TNIL) return;
    lua_pushvalue(L, t);
    lua_call(L, 1, 3); /* iterator, state, control */
    for (int n = 0; n < 10000; n++) { /* a bound, should the iterator not end */
        lua_pushvalue(L, -3);
        lua_pushvalue(L, -3);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 2); /* key, value */
        if (lua_isnil(L, -2)) {
            lua_pop(L, 2);
            break;
        }
        add_key(L, set, part, methods_only);
        lua_pop(L, 1);
        lua_replace(L, -2); /* the key is the next control value */
    }
    lua_pop(L, 3);
}

/* Adds to the set at index `set` the string keys of the table at `t` that
 * start with `part` (only functions when methods_only) and those its
 * __pairs gives, then follows the metatable: __index as a table, or
 * __methods when __index is a function (the tensor and optimizer bindings
 * keep their method tables there). */
static void add_keys(lua_State *L, int t, int set, const char *part, int methods_only, int depth) {
    t = lua_absindex(L, t);
    if (depth > 8) return; /* __index chains may loop */
    if (lua_type(L, t) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, t)) {
            add_key(L, set, part, methods_only);
            lua_pop(L, 1);
        }
    }
    add_pairs_keys(L, t, set, part, methods_only);
    if (!lua_getmetatable(L, t)) return;
    int mt = lua_gettop(L);
    lua_getfield(L, mt, "__index");
    if (lua_istable(L, -1)) {
        add_keys(L, -1, set, part, methods_only, depth + 1);
    } else {
        lua_getfield(L, mt, "__methods");
        if (lua_istable(L, -1)) add_keys(L, -1, set, part, methods_only, depth + 1);
        lua_pop(L, 1);
    }
    lua_settop(L, mt - 1);
}

/* The Lua-side modules of the optlua table (ol.schedule, ...) are loaded on
 * first access, so they are not keys yet: name them from the embedded list. */
static void add_lazy_modules(lua_State *L, int t, int set, const char *part) {
    lua_getfield(L, LUA_REGISTRYINDEX, "optlua.lib");
    int is_lib = lua_rawequal(L, -1, t);
    lua_pop(L, 1);
    if (!is_lib) return;
    size_t plen = strlen(part);
    for (const ol_embedded_module *m = ol_embedded_modules; m->name; m++) {
        const char *sub = m->name + (strncmp(m->name, "optlua.", 7) == 0 ? 7 : 0);
        if (strchr(sub, '.') || strncmp(sub, part, plen) != 0) continue;
        lua_pushboolean(L, 1);
        lua_setfield(L, set, sub);
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* complete(text) -> sorted array of the completions of text, in protected
 * mode (walking the path may call __index). */
static int collect_completions(lua_State *L) {
    const char *text = luaL_checkstring(L, 1);
    lua_newtable(L);
    int set = lua_gettop(L);
    const char *sep = NULL;
    for (const char *p = text; *p; p++)
        if (*p == '.' || *p == ':') sep = p;
    if (sep == NULL) {
        for (int i = 0; keywords[i]; i++)
            if (strncmp(keywords[i], text, strlen(text)) == 0) {
                lua_pushboolean(L, 1);
                lua_setfield(L, set, keywords[i]);
            }
        lua_pushglobaltable(L);
        add_keys(L, -1, set, text, 0, 0);
        lua_pop(L, 1);
    } else {
        /* Walk "a.b.c" from _G; each segment must be a name. */
        lua_pushglobaltable(L);
        const char *seg = text;
        while (seg < sep) {
            const char *end = seg;
            while (end < sep && *end != '.' && *end != ':') end++;
            if (*end == ':' && end != sep) return 0; /* "a:b.c" */
            if (!is_name(seg, (size_t)(end - seg))) return 0;
            int ty = lua_type(L, -1);
            if (ty != LUA_TTABLE && ty != LUA_TUSERDATA && ty != LUA_TSTRING) return 0;
            lua_pushlstring(L, seg, (size_t)(end - seg));
            lua_gettable(L, -2);
            lua_remove(L, -2);
            seg = end + 1;
        }
        int methods_only = *sep == ':';
        if (methods_only && lua_type(L, -1) == LUA_TSTRING) {
            lua_getglobal(L, "string"); /* s:up -> string.upper */
            lua_remove(L, -2);
        }
        add_keys(L, -1, set, sep + 1, methods_only, 0);
        if (!methods_only) add_lazy_modules(L, lua_gettop(L), set, sep + 1);
        lua_pop(L, 1);
    }
    /* Sorted array of prefix .. key. */
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, set)) {
        lua_pop(L, 1);
        n++;
    }
    const char **keys = (const char **)lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *keys, 0);
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, set)) {
        lua_pop(L, 1);
        keys[i++] = lua_tostring(L, -1); /* kept alive by the set */
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    lua_createtable(L, n, 0);
    size_t prefix = sep ? (size_t)(sep - text) + 1 : 0;
    for (i = 0; i < n; i++) {
        lua_pushlstring(L, text, prefix);
        lua_pushstring(L, keys[i]);
        lua_concat(L, 2);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static char **completion_list;
static int completion_next;

static char *completion_generator(const char *text, int state) {
    (void)text;
    if (state == 0) completion_next = 0;
    if (!completion_list || !completion_list[completion_next]) return NULL;
    return strdup(completion_list[completion_next++]);
}

static void free_completion_list(void) {
    if (!completion_list) return;
    for (char **p = completion_list; *p; p++) free(*p);
    free(completion_list);
    completion_list = NULL;
}

static char **complete(const char *text, int start, int end) {
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    rl_completion_append_character = '\0';
    lua_State *L = completion_L;
    if (!L) return NULL;
    int top = lua_gettop(L);
    free_completion_list();
    lua_pushcfunction(L, collect_completions);
    lua_pushstring(L, text);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        int n = (int)lua_rawlen(L, -1);
        completion_list = (char **)calloc((size_t)n + 1, sizeof *completion_list);
        for (int i = 0; completion_list && i < n; i++) {
            lua_rawgeti(L, -1, i + 1);
            completion_list[i] = strdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
    char **matches = rl_completion_matches(text, completion_generator);
    free_completion_list();
    return matches;
}

/* ---- the loop ---- */

static const char *history_path(lua_State *L) {
    const char *p = getenv("OPTLUA_HISTORY");
    if (p) return p[0] ? p : NULL; /* OPTLUA_HISTORY="" turns history off */
    const char *home = getenv("HOME");
    if (!home || !home[0]) return NULL;
    lua_pushfstring(L, "%s/.optlua_history", home);
    lua_setfield(L, LUA_REGISTRYINDEX, "optlua.histfile"); /* keeps the string alive */
    lua_getfield(L, LUA_REGISTRYINDEX, "optlua.histfile");
    p = lua_tostring(L, -1);
    lua_pop(L, 1);
    return p;
}

/* Whether the history file begins with a timestamp line ("#" and a digit),
 * as files this REPL writes do. */
static int has_timestamps(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int a = getc(f), b = getc(f);
    fclose(f);
    return a == '#' && b >= '0' && b <= '9';
}

static void start_readline(lua_State *L, repl *r) {
    rl_readline_name = "optlua"; /* for $if optlua in ~/.inputrc */
    rl_catch_signals = 0;        /* SIGINT is ours (see tty_readline) */
    rl_attempted_completion_function = complete;
    /* '.' and ':' are part of the word: "string.fo" completes as one. */
    rl_basic_word_break_characters = " \t\n\"\\'><=;+-*/%^~#&|{}()[],";
    rl_completer_word_break_characters = (char *)rl_basic_word_break_characters;
    completion_L = L;
    /* Each entry after a timestamp line: readline then reads the lines up
     * to the next timestamp back as one entry (history_multiline_entries). */
    history_write_timestamps = 1;
    history_comment_char = '#';
    using_history();
    stifle_history(HISTORY_MAX);
    r->histfile = history_path(L);
    if (r->histfile) {
        /* missing or unreadable: start empty */
        if (read_history(r->histfile) == 0 && history_length > 0 && !has_timestamps(r->histfile))
            write_history(r->histfile); /* one entry per line before: now with timestamps */
        /* append_history needs the file to exist. */
        int fd = open(r->histfile, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) close(fd);
    }
}

/* The file keeps the last HISTORY_MAX entries: it is read again (entries
 * other sessions appended meanwhile included) into the stifled list and
 * written back whole (history_truncate_file counts lines, not entries). */
static void stop_readline(repl *r) {
    clear_history();
    if (r->histfile && read_history(r->histfile) == 0) write_history(r->histfile);
    clear_history();
    completion_L = NULL;
}

void ol_repl(lua_State *L) {
    repl r;
    memset(&r, 0, sizeof r);
    r.tty = isatty(STDIN_FILENO);
    /* help(x), short for ol.help(x), in interactive sessions; protected, so
     * a broken help module leaves a working REPL without it. */
    if (luaL_dostring(L, "if help == nil then help = optlua.help end") != LUA_OK) lua_pop(L, 1);
    printf("optlua %s  %s  (help: Tab completes, Ctrl-C interrupts, Ctrl-D exits; ol = optlua)\n", OL_VERSION,
           LUA_RELEASE);
    fflush(stdout);
    if (r.tty) start_readline(L, &r);
    int status;
    while ((status = loadline(L, &r)) != READ_EOF) {
        if (status == READ_NOTHING) continue;
        if (status == LUA_OK) {
            renew_printed(L);
            status = ol_docall(L, 0, LUA_MULTRET);
        }
        if (status == LUA_OK)
            l_print(L);
        else
            ol_report(L, status, NULL);
    }
    lua_settop(L, 0);
    fputs("\n", stdout);
    fflush(stdout);
    if (r.tty) stop_readline(&r);
}
