/* Private helpers of the readers (not part of the engine interface). */
#ifndef OL_DATA_INTERNAL_H
#define OL_DATA_INTERNAL_H

#include <string.h>

/* A path for an error message: whole when short, else its last 80
 * characters after "...", so that the position and the reason that follow
 * still fit in an ol_error. */
static inline const char *ol_data_short_path(const char *path) {
    size_t n = strlen(path);
    return n > 96 ? path + n - 80 : path;
}
#define OL_PATH_FMT "%s%s"
#define OL_PATH_ARG(p) (strlen(p) > 96 ? "..." : ""), ol_data_short_path(p)

#endif
