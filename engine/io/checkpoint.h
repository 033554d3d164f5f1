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
 * Checksums: the writer adds two metadata keys (plain strings, so that any
 * safetensors reader takes them as metadata):
 *   optlua.crc32         JSON {"NAME": "8 hex digits", ...}: for every
 *                        tensor, the CRC-32 (ISO-HDLC, as zlib's crc32) of
 *                        its bytes in the file
 *   optlua.crc32.header  "8 hex digits": the CRC-32 of the header's content,
 *                        the concatenation of, for every tensor sorted by
 *                        name (bytewise), "T" NAME \0 DTYPE \0 the sizes each
 *                        followed by "," \0 BEGIN \0 END \0 (numbers in
 *                        decimal), then for every other metadata key sorted
 *                        likewise (optlua.crc32 included), "M" KEY \0 VALUE \0
 * A file holding either key must hold both and match them; one holding
 * neither (written before optlua stored checksums, or by another tool) is
 * read unverified. Checksums find damage, not deliberate edits: whoever
 * changes a file can recompute them, so everything read is validated as
 * well.
 *
 * Writes are atomic: the file is written into an unnamed temporary file
 * in the target's directory (O_TMPFILE), or, where the file system lacks
 * those, into one named TARGET.tmp.XXXXXX (X: letters and digits); it is
 * fsync'ed, given a temporary name (linkat), renamed over the target, and
 * the directory is fsync'ed so that the rename itself survives a crash. A
 * failed or interrupted save leaves the previous file untouched; a process
 * killed while writing leaves nothing behind, or (named temporary) a file
 * of that pattern, which the next save to the same target removes (only
 * regular files named exactly so). Saving to a symbolic link writes the
 * file it points to (the chain followed as far as it goes; a dangling
 * link creates its target), and a target that exists keeps its permission
 * bits; a target that exists and is not a regular file is refused.
 *
 * Test hooks (environment variables): OL_CHECKPOINT_FAIL_AFTER set to a
 * byte count stops the writer after writing that many bytes of the
 * temporary file and fails as if the process had died there (an unnamed
 * temporary vanishes, a named one stays, as after a real crash);
 * OL_CHECKPOINT_NAMED_TMP set to 1 makes the writer use a named temporary
 * file, as on file systems without O_TMPFILE.
 *
 * Reading validates everything before trusting it (the file may come from
 * anywhere): only a regular file is opened (a FIFO or a device is refused
 * without blocking); the header length against the file size and the
 * limits below; well-formed JSON with unique names; known dtypes; shapes
 * whose byte size matches the offsets; offsets inside the data, no overlap
 * and no gap; in a file optlua wrote (one with metadata optlua.format or
 * checksums), tensors listed in the order of their data, as the writer
 * puts them; the checksums when present. Errors name the file and the
 * offending entry. Nothing in a file is ever executed. */
#ifndef OL_CHECKPOINT_H
#define OL_CHECKPOINT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"

/* Limits on what a file may hold, checked by the reader before it builds
 * anything and by the writer, so that every file written can be read: the
 * header's length in bytes (16 MiB), and its entries, tensors and metadata
 * keys together (the checksum keys included). */
#define OL_CK_MAX_HEADER (16 << 20)
#define OL_CK_MAX_ENTRIES 65536

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
    int verified; /* 1: read from a file whose checksums matched */
} ol_checkpoint;

void ol_ck_init(ol_checkpoint *ck);
void ol_ck_free(ol_checkpoint *ck); /* ck is empty (and reusable) afterwards */

/* Adds tensor t (f32/f64, any strides: a contiguous copy is kept unless it
 * is contiguous already, then it is shared) under name. Fails on a
 * duplicate or empty name, or "__metadata__". */
int ol_ck_add(ol_checkpoint *ck, const char *name, const ol_tensor *t, ol_error *err);
/* Sets metadata key to value (replacing an earlier value). Fails on the
 * checksum keys, which the writer makes. */
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
/* 0 with *s filled; 1 when ck has no rng.state; -1 when it is malformed
 * or all zero (the one state xoshiro256** never leaves). */
int ol_ck_get_rng(const ol_checkpoint *ck, ol_rng_state *s, ol_error *err);
/* The same under another key (ol.train's checkpoints keep the RNG as an
 * epoch began under rng.epoch_start). */
int ol_ck_put_rng_at(ol_checkpoint *ck, const char *key, const ol_rng_state *s, ol_error *err);
int ol_ck_get_rng_at(const ol_checkpoint *ck, const char *key, ol_rng_state *s, ol_error *err);

/* Atomic save (see above). */
int ol_ck_save(const ol_checkpoint *ck, const char *path, ol_error *err);
/* Reads and validates path into out (initialised here; out->source is
 * path). On failure out is empty and err reads "checkpoint 'PATH': what is
 * wrong". */
int ol_ck_load(const char *path, ol_checkpoint *out, ol_error *err);
/* The same from a buffer holding a whole file; name is used in messages. */
int ol_ck_parse(const void *buf, size_t size, const char *name, ol_checkpoint *out, ol_error *err);

#endif
