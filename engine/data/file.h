/* Opening a data file for reading (the IDX and CSV readers). */
#ifndef OL_DATA_FILE_H
#define OL_DATA_FILE_H

#include <stdint.h>

#include "core/error.h"

/* ol_open_regular (core/file.h) with the data readers' errors: -1 with err
 * reading "PATH: why" when path cannot be opened or is not a regular file. */
int ol_data_open(const char *path, int64_t *size, ol_error *err);

#endif
