/* Opening a file the engine reads (checkpoints, IDX and CSV data). */
#ifndef OL_CORE_FILE_H
#define OL_CORE_FILE_H

#include <stdint.h>

/* Opens path read-only and returns its descriptor (in blocking mode), with
 * the file's size in *size when size is not NULL. The open itself does not
 * block, so a FIFO (whose open waits for a writer) or a device is refused
 * at once instead of hanging the reader. Returns -1 when the file cannot
 * be opened (errno says why) and -2 when it is not a regular file; the
 * caller words the error for what it was reading. */
int ol_open_regular(const char *path, int64_t *size);

#endif
