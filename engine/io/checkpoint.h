/* Checkpoint files in the safetensors format
 * (https://huggingface.co/docs/safetensors, "Format"):
 *
 *   8 bytes    N, the header length, unsigned little-endian
 *   N bytes    a JSON object: {"NAME": {"dtype": "F32" | "F64",
 *              "shape": [d1, ...], "data_offsets": [begin, end]}, ...,
 *              "__metadata__": {"key": "value", ...}} (strings only),
 *              padded with spaces so that the data start on 8 bytes
 *   the rest   the tensors' raw little-endian bytes; offsets are relative
 *              to the start of this buffer, which they cover exactly
 *              (no holes, no overlap, as the reference reader demands).
 *
 * The writer puts the f64 tensors first, then the f32 ones, so that every
 * tensor is aligned on its element size without leaving holes.
 *
 * Writes are atomic: the file is written under a temporary name in the same
 * directory (mkstemp), flushed and fsync'ed, renamed over the target, and
 * the directory is fsync'ed so that the rename itself survives a crash. A
 * failed or interrupted save leaves the previous file untouched.
 *
 * Test hook: when the environment variable OL_CHECKPOINT_FAIL_AFTER is set
 * to a byte count, the writer stops after writing that many bytes of the
 * temporary file and fails as if the process had died there (the temporary
 * file is left behind, as a crash would leave it).
 *
 * Reading validates everything before trusting it (the file may come from
 * anywhere): the header length against the file size, well-formed JSON with
 * unique names, known dtypes, shapes whose byte size matches the offsets,
 * offsets inside the data, no overlap and no gap. Errors name the file and
 * the offending entry. Nothing in a file is ever executed. */
#ifndef OL_CHECKPOINT_H
#define OL_CHECKPOINT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"

/* The reference implementation's cap on the header (100 MB). */
#define OL_CK_MAX_HEADER 100000000

typedef struct ol_ck_tensor {
    char *name;
    ol_tensor t; /* contiguous, owns a reference */
} ol_ck_tensor;

typedef struct ol_ck_meta {
    char *key;
    char *value;
} ol_ck_meta;

typedef struct ol_checkpoint {
    ol_ck_tensor *tensors;
    int ntensors, tcap;
    ol_ck_meta *meta;
    int nmeta, mcap;
    char *source; /* the path or name it was read from; NULL when built in memory */
} ol_checkpoint;

void ol_ck_init(ol_checkpoint *ck);
void ol_ck_free(ol_checkpoint *ck); /* ck is empty (and reusable) afterwards */

/* Adds tensor t (f32/f64, any strides: a contiguous copy is kept unless it
 * is contiguous already, then it is shared) under name. Fails on a
 * duplicate or empty name, or "__metadata__". */
int ol_ck_add(ol_checkpoint *ck, const char *name, const ol_tensor *t, ol_error *err);
/* Sets metadata key to value (replacing an earlier value). */
int ol_ck_set_meta(ol_checkpoint *ck, const char *key, const char *value, ol_error *err);

/* NULL when absent. */
const ol_tensor *ol_ck_find(const ol_checkpoint *ck, const char *name);
const char *ol_ck_get_meta(const ol_checkpoint *ck, const char *key);
/* How messages name ck: its source, or "(in memory)". */
const char *ol_ck_name(const ol_checkpoint *ck);

/* ---- structured metadata ----
 * Metadata values are strings; structured values (an optimizer's options,
 * the RNG state, a user's numbers and tables) are stored as compact JSON
 * text, every real in the shortest form that reads back as the same double
 * ("0.05", not "0.050000000000000003"; "1.0" stays a real), and inf and
 * nan, which JSON lacks, as the strings "inf", "-inf" and "nan". */

/* Sets metadata key to the JSON text of j. Takes j over (freed here). */
int ol_ck_set_meta_json(ol_checkpoint *ck, const char *key, json_t *j, ol_error *err);
/* Metadata key parsed as JSON (any value) into *out, a new reference, or
 * NULL when the key is absent. Fails with "checkpoint 'P': metadata 'K'
 * is not valid JSON (why)". */
int ol_ck_get_meta_json(const ol_checkpoint *ck, const char *key, json_t **out, ol_error *err);
/* A double as JSON: a real, or "inf" / "-inf" / "nan". */
json_t *ol_ck_json_double(double v);
/* The inverse: a JSON number, or one of those strings; -1 for anything else. */
int ol_ck_json_to_double(const json_t *j, double *v);

/* ---- the RNG (rng.h) ----
 * Metadata rng.state: JSON ["hex64", x 4], the four state words as
 * 16 lower-case hex digits each. */
int ol_ck_put_rng(ol_checkpoint *ck, const ol_rng_state *s, ol_error *err);
/* 0 with *s filled; 1 when ck has no rng.state; -1 when it is malformed. */
int ol_ck_get_rng(const ol_checkpoint *ck, ol_rng_state *s, ol_error *err);

/* Atomic save (see above). */
int ol_ck_save(const ol_checkpoint *ck, const char *path, ol_error *err);
/* Reads and validates path into out (initialised here; out->source is
 * path). On failure out is empty and err reads "checkpoint 'PATH': what is
 * wrong". */
int ol_ck_load(const char *path, ol_checkpoint *out, ol_error *err);
/* The same from a buffer holding a whole file; name is used in messages. */
int ol_ck_parse(const void *buf, size_t size, const char *name, ol_checkpoint *out, ol_error *err);

#endif
