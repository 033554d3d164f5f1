/* Opening a data file for reading (file.h). */
#include "data/file.h"

#include <errno.h>
#include <string.h>

#include "core/file.h"
#include "data/internal.h"

int ol_data_open(const char *path, int64_t *size, ol_error *err) {
    int fd = ol_open_regular(path, size);
    if (fd == -1) return ol_fail(err, OL_PATH_FMT ": cannot open (%s)", OL_PATH_ARG(path), strerror(errno));
    if (fd == -2)
        return ol_fail(err, OL_PATH_FMT ": not a regular file (a directory, FIFO or device is not read "
                       "as data)", OL_PATH_ARG(path));
    return fd;
}
