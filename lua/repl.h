/* Running Lua chunks the way the stock interpreter does (lua.c, Lua 5.4):
 * a message handler that adds a traceback, Ctrl-C turned into an
 * "interrupted!" error, errors reported on stderr; and the interactive loop
 * built on them. Shared by the script runner (main.c) and the REPL. */
#ifndef OL_REPL_H
#define OL_REPL_H

#include <lua.h>

/* Calls the function below its narg arguments in protected mode, with a
 * traceback added to errors and SIGINT interrupting the call; leaves nres
 * results (or the error message) on the stack. Returns the lua_pcall status. */
int ol_docall(lua_State *L, int narg, int nres);

/* On a non-OK status prints the message on top of the stack to stderr,
 * prefixed by "progname: " unless progname is NULL, and pops it. Returns
 * status. */
int ol_report(lua_State *L, int status, const char *progname);

/* The read-eval-print loop on stdin until end of input: GNU readline with
 * history and completion when stdin is a terminal, plain lines otherwise. */
void ol_repl(lua_State *L);

#endif
