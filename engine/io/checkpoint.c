/* Safetensors reader and atomic writer (format and rules in checkpoint.h;
 * source: the safetensors specification, huggingface/safetensors README,
 * "Format", and its reference reader's checks: header size cap, no holes,
 * no overlap, byte size = numel * element size). The JSON header goes
 * through jansson, with duplicate keys rejected so that names are unique. */
#include "io/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int ol_ck_set_meta(ol_checkpoint *ck, const char *key, const char *value, ol_error *err) {
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
    json_t *a = json_array();
    char hex[20];
    for (int i = 0; i < 4 && a; i++) {
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)s->s[i]);
        if (json_array_append_new(a, json_string(hex))) {
            json_decref(a);
            a = NULL;
        }
    }
    return ol_ck_set_meta_json(ck, "rng.state", a, err);
}

int ol_ck_get_rng(const ol_checkpoint *ck, ol_rng_state *s, ol_error *err) {
    json_t *j;
    if (ol_ck_get_meta_json(ck, "rng.state", &j, err)) return -1;
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
        return ol_fail(err, "checkpoint '%.80s': metadata 'rng.state' is not four 64-bit hex words",
                       ol_ck_name(ck));
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

/* ---- writing ---- */

static const char *st_dtype(ol_dtype dt) { return dt == OL_F64 ? "F64" : "F32"; }

/* The write order: f64 tensors first, then f32, each in insertion order. */
static int write_order(const ol_checkpoint *ck, int *order) {
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < ck->ntensors; i++)
            if ((ck->tensors[i].t.dtype == OL_F64) == (pass == 0)) order[k++] = i;
    return k;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes after the
 * length word. Returns a malloc'd string (its length in *len) or NULL. */
static char *make_header(const ol_checkpoint *ck, const int *order, size_t *len, ol_error *err) {
    json_t *root = json_object();
    json_t *meta = json_object();
    int bad = !root || !meta;
    for (int i = 0; i < ck->nmeta && !bad; i++)
        bad = json_object_set_new(meta, ck->meta[i].key, json_string(ck->meta[i].value)) != 0;
    if (!bad && ck->nmeta) bad = json_object_set(root, "__metadata__", meta) != 0;
    uint64_t off = 0;
    for (int k = 0; k < ck->ntensors && !bad; k++) {
        const ol_tensor *t = &ck->tensors[order[k]].t;
        uint64_t bytes = (uint64_t)ol_tensor_numel(t) * ol_dtype_size(t->dtype);
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + bytes)));
        json_object_set_new(e, "dtype", json_string(st_dtype(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        bad = json_object_set_new(root, ck->tensors[order[k]].name, e) != 0;
        off += bytes;
    }
    json_decref(meta);
    char *s = bad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s) {
        ol_fail(err, "cannot encode the header (names and metadata must be UTF-8)");
        return NULL;
    }
    size_t n = strlen(s), padded = (n + 7) / 8 * 8;
    char *p = realloc(s, padded + 1);
    if (!p) {
        free(s);
        ol_fail(err, "out of memory");
        return NULL;
    }
    memset(p + n, ' ', padded - n);
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

/* The directory part of path ("." when none), into buf. */
static void dir_of(const char *path, char *buf, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(buf, size, ".");
    } else if (slash == path) {
        snprintf(buf, size, "/");
    } else {
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
    }
}

int ol_ck_save(const ol_checkpoint *ck, const char *path, ol_error *err) {
    int *order = malloc((size_t)(ck->ntensors ? ck->ntensors : 1) * sizeof *order);
    if (!order) return ol_fail(err, "out of memory");
    write_order(ck, order);
    size_t hlen;
    char *header = make_header(ck, order, &hlen, err);
    if (!header) {
        free(order);
        return -1;
    }
    int64_t budget = -1;
    const char *hook = getenv("OL_CHECKPOINT_FAIL_AFTER");
    if (hook && *hook) budget = strtoll(hook, NULL, 10);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(order);
        free(header);
        return ol_fail(err, "out of memory");
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(order);
        free(header);
        free(tmp);
        return ol_fail(err, "cannot write checkpoint '%.120s': %s", path, strerror(e));
    }
    /* mkstemp makes the file 0600; a checkpoint reads like any file. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);

    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int rc = put(fd, len8, 8, &budget);
    if (rc == 0) rc = put(fd, header, hlen, &budget);
    for (int k = 0; k < ck->ntensors && rc == 0; k++) rc = put_tensor(fd, &ck->tensors[order[k]].t, &budget);
    free(order);
    free(header);
    if (rc == -2) {
        /* Simulated crash: the temporary file stays, as after a real one. */
        close(fd);
        ol_fail(err, "cannot write checkpoint '%.120s': simulated crash after %s bytes "
                "(OL_CHECKPOINT_FAIL_AFTER)", path, hook);
        free(tmp);
        return -1;
    }
    int e = rc ? errno : 0;
    if (rc == 0 && fsync(fd) != 0) e = errno, rc = -1;
    if (close(fd) != 0 && rc == 0) e = errno, rc = -1;
    if (rc == 0 && rename(tmp, path) != 0) e = errno, rc = -1;
    if (rc) {
        unlink(tmp);
        free(tmp);
        return ol_fail(err, "cannot write checkpoint '%.120s': %s", path, strerror(e));
    }
    free(tmp);
    /* The rename is durable only once the directory entry is on disk. */
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd); /* some file systems refuse; the data are safe already */
        close(dfd);
    }
    return 0;
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

typedef struct entry {
    const char *name;
    ol_dtype dtype;
    int ndim;
    int64_t shape[OL_MAXDIM];
    uint64_t begin, end;
} entry;

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
 * where the previous ended. */
static int check_layout(const char *file, entry *es, size_t n, uint64_t data_size, ol_error *err) {
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
    return rc;
}

static int parse_meta(const char *file, json_t *m, ol_checkpoint *out, ol_error *err) {
    if (!json_is_object(m)) return ol_fail(err, "checkpoint '%.80s': __metadata__ is not an object", file);
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v) {
        if (!json_is_string(v))
            return ol_fail(err, "checkpoint '%.80s': __metadata__ value of " NAMEFMT " is not a string", file, key);
        if (ol_ck_set_meta(out, key, json_string_value(v), err)) return -1;
    }
    return 0;
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
    json_error_t je;
    json_t *root = json_loadb(h, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    free(h);
    if (!root)
        return ol_fail(err, "checkpoint '%.80s': header is not valid JSON at byte %d: %.80s", file,
                       je.position + 8, je.text);
    uint64_t data_size = src->size - 8 - hlen;
    size_t n = json_object_size(root);
    entry *es = malloc((n ? n : 1) * sizeof *es);
    int rc = es ? 0 : ol_fail(err, "out of memory");
    size_t ne = 0;
    const char *name;
    json_t *v;
    if (rc == 0 && !json_is_object(root)) rc = ol_fail(err, "checkpoint '%.80s': header is not a JSON object", file);
    else if (rc == 0) {
        json_object_foreach(root, name, v) {
            if (strcmp(name, "__metadata__") == 0) {
                rc = parse_meta(file, v, out, err);
            } else if (!name[0]) {
                rc = ol_fail(err, "checkpoint '%.80s': a tensor has an empty name", file);
            } else {
                rc = check_entry(file, name, v, data_size, &es[ne], err);
                ne++;
            }
            if (rc) break;
        }
    }
    if (rc == 0) rc = check_layout(file, es, ne, data_size, err);
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
        if (!host_is_le()) swap_elems(ol_tensor_data(&t), ol_tensor_numel(&t), ol_dtype_size(t.dtype));
        rc = add_owned(out, es[i].name, &t, err);
    }
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
    FILE *f = fopen(path, "rb");
    if (!f) return ol_fail(err, "cannot open checkpoint '%.120s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ol_fail(err, "checkpoint '%.120s' is not a regular file", path);
    }
    source src = {.f = f, .size = (uint64_t)st.st_size};
    int rc = (out->source = dup_str(path)) ? read_checkpoint(&src, path, out, err)
                                           : ol_fail(err, "out of memory");
    fclose(f);
    if (rc) ol_ck_free(out);
    return rc;
}
