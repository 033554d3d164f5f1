/* Safetensors reader and atomic writer (format and rules in checkpoint.h;
 * source: the safetensors specification, huggingface/safetensors README,
 * "Format", and its reference reader's checks: header size cap, no holes,
 * no overlap, byte size = numel * element size). The JSON header goes
 * through jansson, with duplicate keys rejected so that names are unique. */

/* O_TMPFILE is Linux's: <fcntl.h> declares it under _GNU_SOURCE. Everything
 * else here is POSIX.1-2008, and the writer falls back to a named
 * temporary file where O_TMPFILE is missing. */
#define _GNU_SOURCE
#include "io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"

/* Names in messages are cut so that the message itself fits. */
#define NAMEFMT "'%.60s'"
/* Bound on numel and on the product of the non-zero sizes (tensor.c's cap),
 * so that strides of a file's shapes never overflow. */
#define MAX_ELEMS ((int64_t)1 << 48)

/* ---- the in-memory checkpoint ---- */

void ol_ck_init(ol_checkpoint *ck) { memset(ck, 0, sizeof *ck); }

void ol_ck_free(ol_checkpoint *ck) {
    for (int i = 0; i < ck->ntensors; i++) {
        free(ck->tensors[i].name);
        ol_tensor_release(&ck->tensors[i].t);
    }
    for (int i = 0; i < ck->nmeta; i++) {
        free(ck->meta[i].key);
        free(ck->meta[i].value);
    }
    free(ck->tensors);
    free(ck->meta);
    free(ck->source);
    ol_ck_init(ck);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

const ol_tensor *ol_ck_find(const ol_checkpoint *ck, const char *name) {
    for (int i = 0; i < ck->ntensors; i++)
        if (strcmp(ck->tensors[i].name, name) == 0) return &ck->tensors[i].t;
    return NULL;
}

const char *ol_ck_get_meta(const ol_checkpoint *ck, const char *key) {
    for (int i = 0; i < ck->nmeta; i++)
        if (strcmp(ck->meta[i].key, key) == 0) return ck->meta[i].value;
    return NULL;
}

const char *ol_ck_name(const ol_checkpoint *ck) { return ck->source ? ck->source : "(in memory)"; }

/* Takes ownership of t (released on failure too). */
static int add_owned(ol_checkpoint *ck, const char *name, ol_tensor *t, ol_error *err) {
    if (ck->ntensors == ck->tcap) {
        int cap = ck->tcap ? 2 * ck->tcap : 16;
        ol_ck_tensor *p = realloc(ck->tensors, (size_t)cap * sizeof *p);
        if (!p) {
            ol_tensor_release(t);
            return ol_fail(err, "out of memory");
        }
        ck->tensors = p;
        ck->tcap = cap;
    }
    char *nm = dup_str(name);
    if (!nm) {
        ol_tensor_release(t);
        return ol_fail(err, "out of memory");
    }
    ck->tensors[ck->ntensors].name = nm;
    ck->tensors[ck->ntensors].t = *t;
    ck->ntensors++;
    return 0;
}

int ol_ck_add(ol_checkpoint *ck, const char *name, const ol_tensor *t, ol_error *err) {
    if (!name[0]) return ol_fail(err, "tensor names must not be empty");
    if (strcmp(name, "__metadata__") == 0) return ol_fail(err, "'__metadata__' is reserved");
    if (ol_ck_find(ck, name)) return ol_fail(err, "duplicate tensor name " NAMEFMT, name);
    if (t->dtype != OL_F32 && t->dtype != OL_F64) return ol_fail(err, "unknown dtype");
    ol_tensor c;
    if (ol_tensor_contiguous(t, &c, err)) return -1;
    return add_owned(ck, name, &c, err);
}

/* The checksum keys (checkpoint.h): made by the writer, checked and
 * dropped by the reader, never part of a checkpoint in memory. */
#define CRC_KEY "optlua.crc32"
#define CRC_HEADER_KEY "optlua.crc32.header"
/* The format version optlua's writers (the bindings, train/run.c) put in
 * every file; the reader takes it as the sign of a file optlua wrote. */
#define FORMAT_KEY "optlua.format"

int ol_ck_set_meta(ol_checkpoint *ck, const char *key, const char *value, ol_error *err) {
    if (strcmp(key, CRC_KEY) == 0 || strcmp(key, CRC_HEADER_KEY) == 0)
        return ol_fail(err, "metadata key '%s' is reserved for the file's checksums", key);
    char *v = dup_str(value);
    if (!v) return ol_fail(err, "out of memory");
    for (int i = 0; i < ck->nmeta; i++)
        if (strcmp(ck->meta[i].key, key) == 0) {
            free(ck->meta[i].value);
            ck->meta[i].value = v;
            return 0;
        }
    if (ck->nmeta == ck->mcap) {
        int cap = ck->mcap ? 2 * ck->mcap : 16;
        ol_ck_meta *p = realloc(ck->meta, (size_t)cap * sizeof *p);
        if (!p) {
            free(v);
            return ol_fail(err, "out of memory");
        }
        ck->meta = p;
        ck->mcap = cap;
    }
    char *k = dup_str(key);
    if (!k) {
        free(v);
        return ol_fail(err, "out of memory");
    }
    ck->meta[ck->nmeta].key = k;
    ck->meta[ck->nmeta].value = v;
    ck->nmeta++;
    return 0;
}

/* ---- structured metadata ---- */

/* A growing text buffer; bad is set when memory ran out. */
typedef struct text {
    char *p;
    size_t n, cap;
    int bad;
} text;

static void add_text(text *b, const char *s, size_t n) {
    if (b->bad) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->bad = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void add_str(text *b, const char *s) { add_text(b, s, strlen(s)); }

/* The shortest %g form of v that reads back as v (at most 17 digits, which
 * always suffice), with ".0" added when it would read as an integer. */
static void shortest(double v, char *buf, size_t size) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, size, "%.*g", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", size - strlen(buf) - 1);
}

/* Compact JSON text of j: reals through shortest(), the rest (strings,
 * integers, true/false/null) as jansson writes them. */
static void dump_json(const json_t *j, text *b) {
    char num[40];
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        int first = 1;
        add_str(b, "{");
        json_object_foreach((json_t *)j, k, v) {
            if (!first) add_str(b, ",");
            first = 0;
            json_t *key = json_string(k);
            if (!key) b->bad = 1;
            else dump_json(key, b);
            json_decref(key);
            add_str(b, ":");
            dump_json(v, b);
        }
        add_str(b, "}");
    } else if (json_is_array(j)) {
        add_str(b, "[");
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i) add_str(b, ",");
            dump_json(json_array_get(j, i), b);
        }
        add_str(b, "]");
    } else if (json_is_real(j)) {
        shortest(json_real_value(j), num, sizeof num);
        add_str(b, num);
    } else {
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s) b->bad = 1;
        else add_str(b, s);
        free(s);
    }
}

int ol_ck_set_meta_json(ol_checkpoint *ck, const char *key, json_t *j, ol_error *err) {
    if (!j) return ol_fail(err, "cannot encode metadata '%.60s' as JSON", key);
    text b = {0};
    dump_json(j, &b);
    json_decref(j);
    int rc = b.bad ? ol_fail(err, "out of memory") : ol_ck_set_meta(ck, key, b.p, err);
    free(b.p);
    return rc;
}

int ol_ck_get_meta_json(const ol_checkpoint *ck, const char *key, json_t **out, ol_error *err) {
    *out = NULL;
    const char *s = ol_ck_get_meta(ck, key);
    if (!s) return 0;
    json_error_t je;
    *out = json_loads(s, JSON_DECODE_ANY, &je);
    if (!*out)
        return ol_fail(err, "checkpoint '%.80s': metadata '%.40s' is not valid JSON (%.60s)",
                       ol_ck_name(ck), key, je.text);
    return 0;
}

json_t *ol_ck_json_double(double v) {
    if (isnan(v)) return json_string("nan");
    if (isinf(v)) return json_string(v > 0 ? "inf" : "-inf");
    return json_real(v);
}

int ol_ck_json_to_double(const json_t *j, double *v) {
    if (json_is_number(j)) {
        *v = json_number_value(j);
        return 0;
    }
    if (!json_is_string(j)) return -1;
    const char *s = json_string_value(j);
    if (strcmp(s, "nan") == 0) *v = NAN;
    else if (strcmp(s, "inf") == 0) *v = INFINITY;
    else if (strcmp(s, "-inf") == 0) *v = -INFINITY;
    else return -1;
    return 0;
}

/* ---- the RNG ---- */

int ol_ck_put_rng(ol_checkpoint *ck, const ol_rng_state *s, ol_error *err) {
    return ol_ck_put_rng_at(ck, "rng.state", s, err);
}

int ol_ck_get_rng(const ol_checkpoint *ck, ol_rng_state *s, ol_error *err) {
    return ol_ck_get_rng_at(ck, "rng.state", s, err);
}

int ol_ck_put_rng_at(ol_checkpoint *ck, const char *key, const ol_rng_state *s, ol_error *err) {
    json_t *a = json_array();
    char hex[20];
    for (int i = 0; i < 4 && a; i++) {
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)s->s[i]);
        if (json_array_append_new(a, json_string(hex))) {
            json_decref(a);
            a = NULL;
        }
    }
    return ol_ck_set_meta_json(ck, key, a, err);
}

int ol_ck_get_rng_at(const ol_checkpoint *ck, const char *key, ol_rng_state *s, ol_error *err) {
    json_t *j;
    if (ol_ck_get_meta_json(ck, key, &j, err)) return -1;
    if (!j) return 1;
    int ok = json_is_array(j) && json_array_size(j) == 4;
    for (size_t i = 0; ok && i < 4; i++) {
        json_t *h = json_array_get(j, i);
        const char *x = json_is_string(h) ? json_string_value(h) : "";
        ok = strlen(x) == 16 && strspn(x, "0123456789abcdef") == 16;
        if (ok) s->s[i] = (uint64_t)strtoull(x, NULL, 16);
    }
    json_decref(j);
    if (!ok)
        return ol_fail(err, "checkpoint '%.80s': metadata '%s' is not four 64-bit hex words",
                       ol_ck_name(ck), key);
    if ((s->s[0] | s->s[1] | s->s[2] | s->s[3]) == 0)
        return ol_fail(err, "checkpoint '%.80s': metadata '%s' is all zero, a state the "
                       "generator never reaches (it would draw only zeros)", ol_ck_name(ck), key);
    return 0;
}

/* ---- byte order: the file is little-endian whatever the host ---- */

static int host_is_le(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Reverses each size-byte element of buf in place (big-endian hosts). */
static void swap_elems(void *buf, int64_t n, size_t size) {
    uint8_t *p = buf;
    for (int64_t i = 0; i < n; i++, p += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            uint8_t x = p[a];
            p[a] = p[b];
            p[b] = x;
        }
}

static uint64_t read_le64(const uint8_t *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* ---- CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, initial and
 * final value all ones; zlib's crc32), eight bytes at a time ("slicing by
 * 8": t[k][b] is the CRC of byte b followed by k zero bytes). The tables
 * are built for each save or load, so no state outlives a call. ---- */

typedef struct crc_tables {
    uint32_t t[8][256];
} crc_tables;

static void crc_init(crc_tables *c) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t r = i;
        for (int k = 0; k < 8; k++) r = r & 1 ? (r >> 1) ^ 0xEDB88320u : r >> 1;
        c->t[0][i] = r;
    }
    for (int i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++) c->t[k][i] = (c->t[k - 1][i] >> 8) ^ c->t[0][c->t[k - 1][i] & 0xff];
}

/* The CRC of the bytes before buf (crc; 0 for none) extended by n bytes. */
static uint32_t crc_update(const crc_tables *c, uint32_t crc, const void *buf, size_t n) {
    const uint8_t *p = buf;
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 24);
        uint32_t b = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = c->t[7][a & 0xff] ^ c->t[6][(a >> 8) & 0xff] ^ c->t[5][(a >> 16) & 0xff] ^ c->t[4][a >> 24] ^
              c->t[3][b & 0xff] ^ c->t[2][(b >> 8) & 0xff] ^ c->t[1][(b >> 16) & 0xff] ^ c->t[0][b >> 24];
    }
    for (; n > 0; n--, p++) crc = (crc >> 8) ^ c->t[0][(crc ^ *p) & 0xff];
    return ~crc;
}

static uint32_t crc_str(const crc_tables *c, uint32_t crc, const char *s) {
    return crc_update(c, crc, s, strlen(s) + 1); /* with its terminating zero */
}

/* "8 hex digits" (lower case) into *v; -1 for anything else. */
static int parse_hex32(const char *s, uint32_t *v) {
    if (strlen(s) != 8 || strspn(s, "0123456789abcdef") != 8) return -1;
    *v = (uint32_t)strtoul(s, NULL, 16);
    return 0;
}

/* ---- the header's entries, as the writer lays them out and the reader
 * finds them ---- */

typedef struct entry {
    const char *name;
    ol_dtype dtype;
    int ndim;
    int64_t shape[OL_MAXDIM];
    uint64_t begin, end;
} entry;

/* A metadata key and value. */
typedef struct kv {
    const char *key, *value;
} kv;

static const char *st_dtype(ol_dtype dt) { return dt == OL_F64 ? "F64" : "F32"; }

static int by_entry_name(const void *a, const void *b) {
    return strcmp((*(const entry *const *)a)->name, (*(const entry *const *)b)->name);
}

static int by_key(const void *a, const void *b) {
    return strcmp(((const kv *)a)->key, ((const kv *)b)->key);
}

/* The header checksum (checkpoint.h) of entries es and metadata m (every
 * key but optlua.crc32.header; m is sorted here). -1 when out of memory. */
static int header_crc(const crc_tables *c, const entry *es, size_t ne, kv *m, size_t nm, uint32_t *out) {
    const entry **s = malloc((ne ? ne : 1) * sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < ne; i++) s[i] = &es[i];
    qsort(s, ne, sizeof *s, by_entry_name);
    qsort(m, nm, sizeof *m, by_key);
    uint32_t crc = 0;
    char num[32];
    for (size_t i = 0; i < ne; i++) {
        crc = crc_update(c, crc, "T", 1);
        crc = crc_str(c, crc, s[i]->name);
        crc = crc_str(c, crc, st_dtype(s[i]->dtype));
        for (int d = 0; d < s[i]->ndim; d++) {
            snprintf(num, sizeof num, "%lld,", (long long)s[i]->shape[d]);
            crc = crc_update(c, crc, num, strlen(num));
        }
        crc = crc_update(c, crc, "", 1);
        snprintf(num, sizeof num, "%llu", (unsigned long long)s[i]->begin);
        crc = crc_str(c, crc, num);
        snprintf(num, sizeof num, "%llu", (unsigned long long)s[i]->end);
        crc = crc_str(c, crc, num);
    }
    for (size_t i = 0; i < nm; i++) {
        crc = crc_update(c, crc, "M", 1);
        crc = crc_str(c, crc, m[i].key);
        crc = crc_str(c, crc, m[i].value);
    }
    free(s);
    *out = crc;
    return 0;
}

/* ---- writing ---- */

/* The write order: f64 tensors first, then f32, each in insertion order. */
static int write_order(const ol_checkpoint *ck, int *order) {
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < ck->ntensors; i++)
            if ((ck->tensors[i].t.dtype == OL_F64) == (pass == 0)) order[k++] = i;
    return k;
}

/* The CRC of t's bytes as the file holds them (little-endian). */
static uint32_t tensor_crc(const crc_tables *c, const ol_tensor *t) {
    size_t es = ol_dtype_size(t->dtype);
    int64_t n = ol_tensor_numel(t);
    const uint8_t *data = ol_tensor_data(t);
    if (host_is_le()) return crc_update(c, 0, data, (size_t)n * es);
    uint8_t chunk[4096];
    int64_t per = (int64_t)(sizeof chunk / es);
    uint32_t crc = 0;
    for (int64_t i = 0; i < n; i += per) {
        int64_t m = n - i < per ? n - i : per;
        memcpy(chunk, data + (size_t)i * es, (size_t)m * es);
        swap_elems(chunk, m, es);
        crc = crc_update(c, crc, chunk, (size_t)m * es);
    }
    return crc;
}

/* The JSON header with the checksums, padded with spaces to a multiple of
 * 8 bytes after the length word. Returns a malloc'd string (its length in
 * *len) or NULL. */
static char *make_header(const ol_checkpoint *ck, const int *order, size_t *len, ol_error *err) {
    const int n = ck->ntensors;
    if ((int64_t)n + ck->nmeta + 2 > OL_CK_MAX_ENTRIES) {
        ol_fail(err, "%d tensors and %d metadata keys exceed the limit of %d entries (with the 2 "
                "checksum keys)", n, ck->nmeta, OL_CK_MAX_ENTRIES);
        return NULL;
    }
    crc_tables *c = malloc(sizeof *c);
    entry *es = malloc((size_t)(n ? n : 1) * sizeof *es);
    kv *m = malloc((size_t)(ck->nmeta + 1) * sizeof *m);
    json_t *root = json_object(), *meta = json_object(), *crcs = json_object();
    char *crc_text = NULL, *s = NULL;
    int bad = !c || !es || !m || !root || !meta || !crcs;
    if (!bad) crc_init(c);
    uint64_t off = 0;
    char hex[16];
    for (int k = 0; k < n && !bad; k++) {
        const ol_ck_tensor *ct = &ck->tensors[order[k]];
        uint64_t bytes = (uint64_t)ol_tensor_numel(&ct->t) * ol_dtype_size(ct->t.dtype);
        es[k].name = ct->name;
        es[k].dtype = ct->t.dtype;
        es[k].ndim = ct->t.ndim;
        memcpy(es[k].shape, ct->t.shape, sizeof es[k].shape);
        es[k].begin = off;
        es[k].end = off + bytes;
        off += bytes;
        snprintf(hex, sizeof hex, "%08lx", (unsigned long)tensor_crc(c, &ct->t));
        bad = json_object_set_new(crcs, ct->name, json_string(hex)) != 0;
    }
    if (!bad) bad = !(crc_text = json_dumps(crcs, JSON_COMPACT));
    uint32_t hcrc = 0;
    if (!bad) {
        for (int i = 0; i < ck->nmeta; i++) m[i] = (kv){ck->meta[i].key, ck->meta[i].value};
        m[ck->nmeta] = (kv){CRC_KEY, crc_text};
        bad = header_crc(c, es, (size_t)n, m, (size_t)ck->nmeta + 1, &hcrc) != 0;
    }
    snprintf(hex, sizeof hex, "%08lx", (unsigned long)hcrc);
    for (int i = 0; i < ck->nmeta && !bad; i++)
        bad = json_object_set_new(meta, ck->meta[i].key, json_string(ck->meta[i].value)) != 0;
    if (!bad) bad = json_object_set_new(meta, CRC_KEY, json_string(crc_text)) != 0 ||
                    json_object_set_new(meta, CRC_HEADER_KEY, json_string(hex)) != 0 ||
                    json_object_set(root, "__metadata__", meta) != 0;
    for (int k = 0; k < n && !bad; k++) {
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        for (int d = 0; d < es[k].ndim; d++) json_array_append_new(shape, json_integer(es[k].shape[d]));
        json_array_append_new(offs, json_integer((json_int_t)es[k].begin));
        json_array_append_new(offs, json_integer((json_int_t)es[k].end));
        json_object_set_new(e, "dtype", json_string(st_dtype(es[k].dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        bad = json_object_set_new(root, es[k].name, e) != 0;
    }
    if (!bad) s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    json_decref(meta);
    json_decref(crcs);
    free(crc_text);
    free(m);
    free(es);
    free(c);
    if (!s) {
        ol_fail(err, "cannot encode the header (names and metadata must be UTF-8)");
        return NULL;
    }
    size_t hn = strlen(s), padded = (hn + 7) / 8 * 8;
    if (padded > OL_CK_MAX_HEADER) {
        free(s);
        ol_fail(err, "the header would take %zu bytes, over the limit of %d (less metadata?)", padded,
                OL_CK_MAX_HEADER);
        return NULL;
    }
    char *p = realloc(s, padded + 1);
    if (!p) {
        free(s);
        ol_fail(err, "out of memory");
        return NULL;
    }
    memset(p + hn, ' ', padded - hn);
    p[padded] = 0;
    *len = padded;
    return p;
}

/* Writes n bytes, honouring the test hook's byte budget (*budget < 0: no
 * limit). Returns 0, -1 on an I/O error, -2 when the budget ran out. */
static int put(int fd, const void *buf, size_t n, int64_t *budget) {
    const uint8_t *p = buf;
    size_t todo = n;
    int cut = 0;
    if (*budget >= 0 && (uint64_t)*budget < n) {
        todo = (size_t)*budget;
        cut = 1;
    }
    while (todo > 0) {
        ssize_t w = write(fd, p, todo);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        todo -= (size_t)w;
    }
    if (*budget >= 0) *budget -= (int64_t)(cut ? *budget : (int64_t)n);
    return cut ? -2 : 0;
}

/* Writes a tensor's bytes little-endian, in chunks on big-endian hosts. */
static int put_tensor(int fd, const ol_tensor *t, int64_t *budget) {
    size_t es = ol_dtype_size(t->dtype);
    int64_t n = ol_tensor_numel(t);
    const uint8_t *data = ol_tensor_data(t);
    if (host_is_le()) return put(fd, data, (size_t)n * es, budget);
    uint8_t chunk[4096];
    int64_t per = (int64_t)(sizeof chunk / es);
    for (int64_t i = 0; i < n; i += per) {
        int64_t m = n - i < per ? n - i : per;
        memcpy(chunk, data + (size_t)i * es, (size_t)m * es);
        swap_elems(chunk, m, es);
        int rc = put(fd, chunk, (size_t)m * es, budget);
        if (rc) return rc;
    }
    return 0;
}

/* The whole file: length word, header, tensors in write order. */
static int put_file(int fd, const ol_checkpoint *ck, const int *order, const char *header, size_t hlen,
                    int64_t *budget) {
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int rc = put(fd, len8, 8, budget);
    if (rc == 0) rc = put(fd, header, hlen, budget);
    for (int k = 0; k < ck->ntensors && rc == 0; k++) rc = put_tensor(fd, &ck->tensors[order[k]].t, budget);
    return rc;
}

/* The directory part of path ("." when none), malloc'd. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return dup_str(".");
    if (slash == path) return dup_str("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

/* The file a save to path writes: path itself, or where the chain of
 * symbolic links it starts ends (which need not exist yet). Directories
 * on the way are left to the system. NULL with err filled on failure. */
static char *resolve_target(const char *path, ol_error *err) {
    char *p = dup_str(path);
    char link[4096];
    for (int hops = 0; p; hops++) {
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode)) return p;
        ssize_t n = hops < 40 ? readlink(p, link, sizeof link) : -1;
        if (n <= 0 || (size_t)n >= sizeof link) {
            int e = hops >= 40 ? ELOOP : n < 0 ? errno : n == 0 ? ENOENT : ENAMETOOLONG;
            free(p);
            ol_fail(err, "cannot write checkpoint '%.120s': following its symbolic link: %s", path,
                    strerror(e));
            return NULL;
        }
        link[n] = 0;
        char *next;
        if (link[0] == '/') {
            next = dup_str(link);
        } else { /* relative to the link's own directory */
            char *d = dir_of(p);
            size_t size = (d ? strlen(d) : 0) + (size_t)n + 2;
            next = d ? malloc(size) : NULL;
            if (next) snprintf(next, size, "%s/%s", d, link);
            free(d);
        }
        free(p);
        p = next;
    }
    ol_fail(err, "out of memory");
    return NULL;
}

/* The letters of a temporary file's suffix, as mkstemp's. */
static const char tmp_letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
#define TMP_SUFFIX ".tmp."

/* Removes the temporary files an interrupted save to target may have left:
 * regular files beside it named exactly TARGET.tmp.XXXXXX. */
static void remove_stale(const char *target) {
    char *dir = dir_of(target);
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    size_t nb = strlen(base), ns = strlen(TMP_SUFFIX);
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *x = e->d_name + nb + ns;
        if (strncmp(e->d_name, base, nb) != 0 || strncmp(e->d_name + nb, TMP_SUFFIX, ns) != 0 ||
            strlen(x) != 6 || strspn(x, tmp_letters) != 6)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d) closedir(d);
    free(dir);
}

/* TARGET.tmp.XXXXXX into buf, the six letters mixed from the clock, the
 * process and the attempt (no use of the engine's RNG, whose stream a
 * save must not move); whoever creates the name checks that it is new. */
static void temp_name(char *buf, size_t size, const char *target, unsigned attempt) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40 ^
                 (uint64_t)(attempt + 1) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    char suffix[7];
    for (int i = 0; i < 6; i++, x /= 62) suffix[i] = tmp_letters[x % 62];
    suffix[6] = 0;
    snprintf(buf, size, "%s" TMP_SUFFIX "%s", target, suffix);
}

/* Gives the unnamed temporary file fd the name tmp (a new name beside the
 * target). 0, or -1 with errno set. */
static int link_tmpfile(int fd, const char *target, char *tmp, size_t size) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        temp_name(tmp, size, target, attempt);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) return 0;
        if (errno != EEXIST) return -1;
    }
    return -1;
}

/* A new named temporary file beside the target, open for writing (mode
 * 0666 less the umask), its name in tmp; -1 with errno set. */
static int open_named(const char *target, char *tmp, size_t size) {
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        temp_name(tmp, size, target, attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

/* Writes the file into fd and flushes it to disk: 0, -1 (errno in *e), or
 * -2 when the test hook's budget ran out. */
static int write_synced(int fd, const ol_checkpoint *ck, const int *order, const char *header, size_t hlen,
                        int64_t *budget, int *e) {
    int w = put_file(fd, ck, order, header, hlen, budget);
    if (w == 0 && fsync(fd) != 0) w = -1;
    if (w == -1) *e = errno;
    return w;
}

static int64_t fail_after(void) {
    const char *hook = getenv("OL_CHECKPOINT_FAIL_AFTER");
    return hook && *hook ? strtoll(hook, NULL, 10) : -1;
}

int ol_ck_save(const ol_checkpoint *ck, const char *path, ol_error *err) {
    int *order = malloc((size_t)(ck->ntensors ? ck->ntensors : 1) * sizeof *order);
    if (!order) return ol_fail(err, "out of memory");
    write_order(ck, order);
    size_t hlen;
    char *header = make_header(ck, order, &hlen, err);
    char *target = header ? resolve_target(path, err) : NULL;
    char *dir = target ? dir_of(target) : NULL;
    size_t tsize = target ? strlen(target) + 16 : 0;
    char *tmp = target ? calloc(tsize, 1) : NULL;
    int rc = -1;
    if (!header || !target) goto done;
    if (!dir || !tmp) {
        ol_fail(err, "out of memory");
        goto done;
    }
    struct stat st;
    const int exists = stat(target, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        ol_fail(err, "cannot write checkpoint '%.120s': it exists and is not a regular file", target);
        goto done;
    }
    remove_stale(target);
    int64_t budget = fail_after();
    int w = 1, e = 0; /* w: 1 not written yet, else as write_synced */
#ifdef O_TMPFILE
    /* An unnamed temporary file: nothing is left if the process dies
     * while writing it; it is named only once whole. */
    const char *named = getenv("OL_CHECKPOINT_NAMED_TMP");
    int fd = named && strcmp(named, "1") == 0 ? -1 : open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0) {
        w = write_synced(fd, ck, order, header, hlen, &budget, &e);
        if (w == 0 && exists) fchmod(fd, st.st_mode & 0777);
        if (w == 0 && link_tmpfile(fd, target, tmp, tsize) != 0) {
            w = 1; /* no /proc to name it through: written again, named */
            tmp[0] = 0;
            budget = fail_after();
        }
        close(fd);
    }
#endif
    if (w == 1) {
        int nfd = open_named(target, tmp, tsize);
        if (nfd < 0) {
            e = errno;
            w = -1;
            tmp[0] = 0;
        } else {
            if (exists) fchmod(nfd, st.st_mode & 0777);
            w = write_synced(nfd, ck, order, header, hlen, &budget, &e);
            if (close(nfd) != 0 && w == 0) e = errno, w = -1;
        }
    }
    if (w == -2) { /* as after a crash: an unnamed temporary is gone, a named one stays */
        ol_fail(err, "cannot write checkpoint '%.120s': simulated crash after %s bytes "
                "(OL_CHECKPOINT_FAIL_AFTER)", path, getenv("OL_CHECKPOINT_FAIL_AFTER"));
        goto done;
    }
    if (w == 0 && rename(tmp, target) != 0) e = errno, w = -1;
    if (w != 0) {
        if (tmp[0]) unlink(tmp);
        ol_fail(err, "cannot write checkpoint '%.120s': %s", path, strerror(e));
        goto done;
    }
    /* The rename is durable only once the directory entry is on disk. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* some file systems refuse; the data are safe already */
        close(dfd);
    }
    rc = 0;
done:
    free(order);
    free(header);
    free(target);
    free(dir);
    free(tmp);
    return rc;
}

/* ---- reading ---- */

/* Where the tensor data come from: a buffer or an open file. */
typedef struct source {
    const uint8_t *mem; /* NULL: read from f */
    FILE *f;
    uint64_t size;      /* of the whole file */
} source;

static int src_read(const source *s, uint64_t off, void *buf, size_t n) {
    if (n == 0) return 0;
    if (off > s->size || n > s->size - off) return -1;
    if (s->mem) {
        memcpy(buf, s->mem + off, n);
        return 0;
    }
    if (fseeko(s->f, (off_t)off, SEEK_SET) != 0) return -1;
    return fread(buf, 1, n, s->f) == n ? 0 : -1;
}

static const char *const other_dtypes[] = {"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32",
                                           "I64", "U64", "F8_E4M3", "F8_E5M2", NULL};

/* Checks one header entry `name: value` and fills e. */
static int check_entry(const char *file, const char *name, json_t *v, uint64_t data_size, entry *e,
                       ol_error *err) {
    e->name = name;
    if (!json_is_object(v))
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT " is not an object", file, name);
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT " has an unknown field '%.40s'", file,
                           name, key);
    }
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (!dt || !shape || !offs)
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT " lacks '%s'", file, name,
                       !dt ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!json_is_string(dt))
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": dtype is not a string", file, name);
    const char *d = json_string_value(dt);
    if (strcmp(d, "F32") == 0) {
        e->dtype = OL_F32;
    } else if (strcmp(d, "F64") == 0) {
        e->dtype = OL_F64;
    } else {
        for (int i = 0; other_dtypes[i]; i++)
            if (strcmp(d, other_dtypes[i]) == 0)
                return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": dtype %s is not supported (F32 and F64 are)",
                               file, name, d);
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": unknown dtype '%.20s'", file, name, d);
    }
    if (!json_is_array(shape))
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": shape is not an array", file, name);
    size_t nd = json_array_size(shape);
    if (nd > OL_MAXDIM)
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": %zu dimensions (at most %d)", file, name,
                       nd, OL_MAXDIM);
    e->ndim = (int)nd;
    int64_t numel = 1, span = 1;
    for (size_t k = 0; k < nd; k++) {
        json_t *s = json_array_get(shape, k);
        if (!json_is_integer(s) || json_integer_value(s) < 0)
            return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": shape[%zu] is not a size", file, name,
                           k + 1);
        int64_t dim = (int64_t)json_integer_value(s);
        int64_t nz = dim > 0 ? dim : 1;
        if (nz > MAX_ELEMS / span)
            return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": shape is too large", file, name);
        span *= nz;
        numel *= dim;
        e->shape[k] = dim;
    }
    if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(json_array_get(offs, 0)) ||
        !json_is_integer(json_array_get(offs, 1)))
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": data_offsets is not [begin, end]", file,
                       name);
    json_int_t b = json_integer_value(json_array_get(offs, 0)), en = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || en < b)
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": data_offsets [%lld, %lld] are not 0 <= begin <= end",
                       file, name, (long long)b, (long long)en);
    if ((uint64_t)en > data_size)
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": data_offsets [%lld, %lld] run past the data (%llu bytes)",
                       file, name, (long long)b, (long long)en, (unsigned long long)data_size);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    uint64_t need = (uint64_t)numel * ol_dtype_size(e->dtype);
    if (e->end - e->begin != need)
        return ol_fail(err, "checkpoint '%.80s': entry " NAMEFMT ": %lld %s elements need %llu bytes, data_offsets give %llu",
                       file, name, (long long)numel, d, (unsigned long long)need,
                       (unsigned long long)(e->end - e->begin));
    return 0;
}

static int by_offset(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* The tensors must tile [0, data_size): sorted by offset, each begins
 * where the previous ended. In a file optlua wrote (ordered), they do so
 * in the order the header lists them, as the writer lays them out; two
 * tensors of one size whose offsets were exchanged are refused so. */
static int check_layout(const char *file, entry *es, size_t n, uint64_t data_size, int ordered,
                        ol_error *err) {
    entry *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) return ol_fail(err, "out of memory");
    memcpy(s, es, n * sizeof *s);
    qsort(s, n, sizeof *s, by_offset);
    uint64_t at = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (s[i].begin < at)
            rc = ol_fail(err, "checkpoint '%.80s': tensors " NAMEFMT " and " NAMEFMT " overlap", file,
                         s[i - 1].name, s[i].name);
        else if (s[i].begin > at)
            rc = ol_fail(err, "checkpoint '%.80s': bytes %llu..%llu of the data belong to no tensor (before " NAMEFMT ")",
                         file, (unsigned long long)at, (unsigned long long)s[i].begin, s[i].name);
        if (s[i].end > at) at = s[i].end;
    }
    if (rc == 0 && at != data_size)
        rc = ol_fail(err, "checkpoint '%.80s': %llu bytes after the last tensor belong to no tensor", file,
                     (unsigned long long)(data_size - at));
    free(s);
    at = 0;
    for (size_t i = 0; ordered && i < n && rc == 0; at = es[i].end, i++)
        if (es[i].begin != at)
            rc = ol_fail(err, "checkpoint '%.80s': tensor " NAMEFMT " begins at byte %llu of the data, "
                         "not at %llu where the one before it in the header ends (optlua writes them "
                         "in order: offsets exchanged?)", file, es[i].name,
                         (unsigned long long)es[i].begin, (unsigned long long)at);
    return rc;
}

/* Before jansson builds the header: its size in entries, so that a hostile
 * header costs little time and memory. Counts, outside strings, the
 * characters that open an object, an array, a member or an element
 * ('{', '[', ':', ','): a tensor entry takes at most 18 of them (with
 * OL_MAXDIM sizes), a metadata key 2, so a header within
 * OL_CK_MAX_ENTRIES entries never exceeds 20 per entry. Nesting is at
 * most 3 deep (header, entry, shape). The exact entry count is checked
 * after parsing. */
static int prescan(const char *file, const char *h, size_t n, ol_error *err) {
    const uint64_t limit = (uint64_t)OL_CK_MAX_ENTRIES * 20;
    uint64_t count = 0;
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < n; i++) {
        const char c = h[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > 3)
                return ol_fail(err, "checkpoint '%.80s': header nests deeper than a safetensors header at "
                               "byte %zu", file, i + 8);
            count++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ':' || c == ',') {
            count++;
        }
        if (count > limit)
            return ol_fail(err, "checkpoint '%.80s': header holds more than %d entries (tensors and "
                           "metadata keys), the most optlua reads", file, OL_CK_MAX_ENTRIES);
    }
    return 0;
}

/* The file's checksums, kept aside while reading (pointers into the
 * parsed header). */
typedef struct checksums {
    const char *tensors; /* optlua.crc32's text, or NULL */
    const char *header;  /* optlua.crc32.header's, or NULL */
} checksums;

static int parse_meta(const char *file, json_t *m, ol_checkpoint *out, checksums *cs, ol_error *err) {
    if (!json_is_object(m)) return ol_fail(err, "checkpoint '%.80s': __metadata__ is not an object", file);
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v) {
        if (!json_is_string(v))
            return ol_fail(err, "checkpoint '%.80s': __metadata__ value of " NAMEFMT " is not a string", file, key);
        if (strcmp(key, CRC_KEY) == 0) cs->tensors = json_string_value(v);
        else if (strcmp(key, CRC_HEADER_KEY) == 0) cs->header = json_string_value(v);
        else if (ol_ck_set_meta(out, key, json_string_value(v), err)) return -1;
    }
    return 0;
}

#define DAMAGED "(the file is damaged, or was changed after optlua wrote it)"

/* The header's checksums against the header; fills want[i], the stored
 * checksum of es[i]'s data. */
static int check_header_crc(const char *file, const crc_tables *c, const checksums *cs, const entry *es,
                            size_t ne, const ol_checkpoint *out, uint32_t *want, ol_error *err) {
    if (!cs->tensors || !cs->header)
        return ol_fail(err, "checkpoint '%.80s': metadata '%s' without '%s' " DAMAGED, file,
                       cs->tensors ? CRC_KEY : CRC_HEADER_KEY, cs->tensors ? CRC_HEADER_KEY : CRC_KEY);
    uint32_t stored;
    if (parse_hex32(cs->header, &stored))
        return ol_fail(err, "checkpoint '%.80s': metadata '%s' is not 8 hex digits " DAMAGED, file,
                       CRC_HEADER_KEY);
    json_error_t je;
    json_t *j = json_loads(cs->tensors, 0, &je);
    int rc = 0;
    if (!json_is_object(j))
        rc = ol_fail(err, "checkpoint '%.80s': metadata '%s' is not a JSON object " DAMAGED, file, CRC_KEY);
    else if (json_object_size(j) != ne)
        rc = ol_fail(err, "checkpoint '%.80s': metadata '%s' has %zu checksums for %zu tensors " DAMAGED,
                     file, CRC_KEY, json_object_size(j), ne);
    for (size_t i = 0; i < ne && rc == 0; i++) {
        json_t *h = json_object_get(j, es[i].name);
        if (!json_is_string(h) || parse_hex32(json_string_value(h), &want[i]))
            rc = ol_fail(err, "checkpoint '%.80s': metadata '%s' has no checksum (8 hex digits) for tensor "
                         NAMEFMT " " DAMAGED, file, CRC_KEY, es[i].name);
    }
    json_decref(j);
    if (rc) return rc;
    kv *m = malloc((size_t)(out->nmeta + 1) * sizeof *m);
    if (!m) return ol_fail(err, "out of memory");
    for (int i = 0; i < out->nmeta; i++) m[i] = (kv){out->meta[i].key, out->meta[i].value};
    m[out->nmeta] = (kv){CRC_KEY, cs->tensors};
    uint32_t got;
    if (header_crc(c, es, ne, m, (size_t)out->nmeta + 1, &got)) rc = ol_fail(err, "out of memory");
    else if (got != stored)
        rc = ol_fail(err, "checkpoint '%.80s': the header does not match its checksum " DAMAGED, file);
    free(m);
    return rc;
}

static int read_checkpoint(const source *src, const char *file, ol_checkpoint *out, ol_error *err) {
    uint8_t len8[8];
    if (src->size < 8 || src_read(src, 0, len8, 8))
        return ol_fail(err, "checkpoint '%.80s': file too short (%llu bytes) for the 8-byte header length", file,
                       (unsigned long long)src->size);
    uint64_t hlen = read_le64(len8);
    if (hlen > OL_CK_MAX_HEADER)
        return ol_fail(err, "checkpoint '%.80s': header length %llu exceeds the %d-byte limit", file,
                       (unsigned long long)hlen, OL_CK_MAX_HEADER);
    if (hlen > src->size - 8)
        return ol_fail(err, "checkpoint '%.80s': header length %llu but only %llu bytes follow (truncated?)",
                       file, (unsigned long long)hlen, (unsigned long long)(src->size - 8));
    if (hlen < 2) return ol_fail(err, "checkpoint '%.80s': header too short (%llu bytes)", file, (unsigned long long)hlen);
    char *h = malloc((size_t)hlen);
    if (!h) return ol_fail(err, "out of memory for a %llu-byte header", (unsigned long long)hlen);
    if (src_read(src, 8, h, (size_t)hlen)) {
        free(h);
        return ol_fail(err, "checkpoint '%.80s': cannot read the header", file);
    }
    if (h[0] != '{') {
        free(h);
        return ol_fail(err, "checkpoint '%.80s': header does not start with '{' (not a safetensors file?)", file);
    }
    if (prescan(file, h, (size_t)hlen, err)) {
        free(h);
        return -1;
    }
    json_error_t je;
    json_t *root = json_loadb(h, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    free(h);
    if (!root)
        return ol_fail(err, "checkpoint '%.80s': header is not valid JSON at byte %d: %.80s", file,
                       je.position + 8, je.text);
    uint64_t data_size = src->size - 8 - hlen;
    size_t n = json_object_size(root);
    entry *es = malloc((n ? n : 1) * sizeof *es);
    uint32_t *want = malloc((n ? n : 1) * sizeof *want);
    crc_tables *c = malloc(sizeof *c);
    int rc = es && want && c ? 0 : ol_fail(err, "out of memory");
    size_t ne = 0, nkeys = 0;
    checksums cs = {NULL, NULL};
    const char *name;
    json_t *v;
    if (rc == 0 && !json_is_object(root)) rc = ol_fail(err, "checkpoint '%.80s': header is not a JSON object", file);
    else if (rc == 0) {
        json_object_foreach(root, name, v) {
            if (strcmp(name, "__metadata__") == 0) {
                rc = parse_meta(file, v, out, &cs, err);
                nkeys += json_object_size(v);
            } else if (!name[0]) {
                rc = ol_fail(err, "checkpoint '%.80s': a tensor has an empty name", file);
            } else {
                rc = check_entry(file, name, v, data_size, &es[ne], err);
                ne++;
            }
            if (rc) break;
        }
    }
    if (rc == 0 && ne + nkeys > OL_CK_MAX_ENTRIES)
        rc = ol_fail(err, "checkpoint '%.80s': %zu tensors and %zu metadata keys exceed the limit of %d "
                     "entries", file, ne, nkeys, OL_CK_MAX_ENTRIES);
    /* The checksums first: for a damaged file, they say what happened. */
    const int verify = cs.tensors || cs.header;
    if (rc == 0 && verify) {
        crc_init(c);
        rc = check_header_crc(file, c, &cs, es, ne, out, want, err);
    }
    if (rc == 0)
        rc = check_layout(file, es, ne, data_size, verify || ol_ck_get_meta(out, FORMAT_KEY) != NULL, err);
    for (size_t i = 0; i < ne && rc == 0; i++) {
        ol_tensor t;
        if (ol_tensor_empty(&t, es[i].dtype, es[i].ndim, es[i].shape, err)) {
            rc = -1;
            break;
        }
        uint64_t nb = es[i].end - es[i].begin;
        if (src_read(src, 8 + hlen + es[i].begin, ol_tensor_data(&t), (size_t)nb)) {
            ol_tensor_release(&t);
            rc = ol_fail(err, "checkpoint '%.80s': cannot read the data of " NAMEFMT, file, es[i].name);
            break;
        }
        if (verify && crc_update(c, 0, ol_tensor_data(&t), (size_t)nb) != want[i]) {
            ol_tensor_release(&t);
            rc = ol_fail(err, "checkpoint '%.80s': the data of tensor " NAMEFMT " (bytes %llu..%llu) do not "
                         "match its checksum " DAMAGED, file, es[i].name, (unsigned long long)es[i].begin,
                         (unsigned long long)es[i].end);
            break;
        }
        if (!host_is_le()) swap_elems(ol_tensor_data(&t), ol_tensor_numel(&t), ol_dtype_size(t.dtype));
        rc = add_owned(out, es[i].name, &t, err);
    }
    out->verified = rc == 0 && verify;
    free(c);
    free(want);
    free(es);
    json_decref(root);
    return rc;
}

int ol_ck_parse(const void *buf, size_t size, const char *name, ol_checkpoint *out, ol_error *err) {
    ol_ck_init(out);
    source src = {.mem = buf, .size = size};
    if (!(out->source = dup_str(name))) return ol_fail(err, "out of memory");
    if (read_checkpoint(&src, name, out, err)) {
        ol_ck_free(out);
        return -1;
    }
    return 0;
}

int ol_ck_load(const char *path, ol_checkpoint *out, ol_error *err) {
    ol_ck_init(out);
    int64_t size = 0;
    int fd = ol_open_regular(path, &size);
    if (fd == -1) return ol_fail(err, "cannot open checkpoint '%.120s': %s", path, strerror(errno));
    if (fd == -2) return ol_fail(err, "checkpoint '%.120s' is not a regular file", path);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return ol_fail(err, "cannot open checkpoint '%.120s': %s", path, strerror(e));
    }
    source src = {.f = f, .size = (uint64_t)size};
    int rc = (out->source = dup_str(path)) ? read_checkpoint(&src, path, out, err)
                                           : ol_fail(err, "out of memory");
    fclose(f);
    if (rc) ol_ck_free(out);
    return rc;
}
