/* Readers that make datasets: IDX files (raw or gzip), CSV files and
 * synthetic sets. Every failure message names the file and the position:
 * the byte offset in the (decompressed) IDX stream, the line and column
 * of a CSV file. Only regular files are read: a directory, FIFO or device
 * is refused without blocking (core/file.h). */
#ifndef OL_DATA_READERS_H
#define OL_DATA_READERS_H

#include <stdint.h>

#include "data/dataset.h"

/* ---- IDX (LeCun's MNIST format) ----
 * A big-endian header: two zero bytes, an element type code (0x08 ubyte,
 * 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the
 * number of dimensions, then one uint32 per dimension; then the elements,
 * row-major. Read through zlib's gzread, which also reads uncompressed
 * files as they are. */
typedef struct ol_idx {
    int type;               /* the type code */
    int ndim;
    int64_t dims[8];
    int64_t count;          /* product of dims */
    void *data;             /* count elements: uint8_t for 0x08, else double */
} ol_idx;

int ol_idx_read(const char *path, ol_idx *out, ol_error *err);
void ol_idx_free(ol_idx *idx);

/* Images (first dimension N, the others flattened into D features) and
 * labels (N integers, 0-based class ids in the file, 1-based in the
 * dataset). classes > 0 bounds the labels (a label >= classes is an error
 * naming its offset); 0: classes = largest label + 1; < 0 is an error.
 * Labels are at most INT32_MAX - 1. Byte images read as byte / 255.
 * labels_path NULL: unlabelled. */
ol_dataset *ol_read_idx(const char *images_path, const char *labels_path, int32_t classes,
                        ol_error *err);

/* ---- CSV, parsed by libcsv (RFC 4180 quoting) ----
 * Every field must be a decimal number, read whole whatever its length:
 * an optional sign, digits with an optional point, an optional exponent,
 * surrounding blanks allowed; not hexadecimal, inf or nan, and within the
 * range of a double. Every row must have as many fields as the first.
 * Empty lines are skipped; a UTF-8 byte order mark at the start of the
 * file is ignored. */
typedef struct ol_csv_opts {
    int header;             /* 1: first row is names; 0: data; -1: auto (names
                               when any field of the first row is not a number) */
    const char *label_name; /* label column by header name, or NULL */
    int64_t label_index;    /* 1-based label column; 0: none; -1: the last */
    char delimiter;         /* ',' by default (0 means ',') */
    int label_base;         /* 0 or 1: the file's first class id; -1: auto
                               (0 when the smallest label in the file is 0) */
    int32_t classes;        /* > 0: labels must be < label_base + classes;
                               0: from the labels; < 0 is an error */
} ol_csv_opts;

ol_dataset *ol_read_csv(const char *path, const ol_csv_opts *opts, ol_error *err);

/* ---- synthetic sets, drawn from the global RNG (core/rng.h) ---- */
typedef enum ol_synth_kind { OL_SYNTH_SPIRALS, OL_SYNTH_XOR, OL_SYNTH_BLOBS } ol_synth_kind;

typedef struct ol_synth_opts {
    ol_synth_kind kind;
    int64_t n;        /* samples; class k gets n/C, the first n mod C one more */
    int32_t classes;  /* spirals, blobs: >= 1; xor: 2 */
    int64_t dim;      /* spirals, xor: 2; blobs: >= 1 */
    double noise;     /* < 0: the kind's default */
} ol_synth_opts;

/* Parses "spirals" / "xor" / "blobs"; -1 if unknown. */
int ol_synth_kind_parse(const char *name, ol_synth_kind *kind);
ol_dataset *ol_synthetic(const ol_synth_opts *opts, ol_error *err);

#endif
