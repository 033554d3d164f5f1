/* Errors are values: engine functions return 0 on success and -1 on
 * failure, after filling an ol_error with a message that the Lua bindings
 * turn into `bad argument #k to 'fn' (message)`. The engine never prints
 * and never exits. */
#ifndef OL_ERROR_H
#define OL_ERROR_H

typedef struct ol_error {
    char msg[256];
} ol_error;

/* Formats the message into err (err may be NULL) and returns -1, so that
 * a failing check reads `return ol_fail(err, "...", ...);`. */
int ol_fail(ol_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
