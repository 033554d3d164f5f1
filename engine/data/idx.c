/* IDX reader. The format (LeCun, Cortes, Burges, "The MNIST database",
 * http://yann.lecun.com/exdb/mnist/): bytes 0-1 zero, byte 2 the element
 * type (0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32,
 * 0x0E float64), byte 3 the number of dimensions k, then k big-endian
 * uint32 sizes, then the elements in row-major order, big-endian.
 *
 * Files are read through zlib's gzopen/gzread, which inflate gzip files and
 * pass other files through unchanged, so one path serves .gz and raw files;
 * byte offsets in messages count in the decompressed stream. The sizes in
 * the header are checked against the data actually present: a raw file's
 * size is compared before anything is allocated; a gzip stream (whose size
 * is unknown until inflated) is read into a buffer that grows as data
 * arrives, so a corrupt header claiming billions of elements fails at the
 * end of the data instead of allocating for them. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/file.h"
#include "data/internal.h"
#include "data/readers.h"

static int type_size(int type) {
    switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
    }
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const unsigned char *p) {
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Element k of raw big-endian data as a double. */
static double decode(int type, const unsigned char *p) {
    switch (type) {
    case 0x09: return (double)(int8_t)p[0];
    case 0x0B: return (double)(int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C: return (double)(int32_t)be32(p);
    case 0x0D: {
        uint32_t u = be32(p);
        float f;
        memcpy(&f, &u, sizeof f);
        return (double)f;
    }
    case 0x0E: {
        uint64_t u = be64(p);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    default: return (double)p[0];
    }
}

/* Reads up to len bytes; returns the count read (short at end of file) or
 * -1 after a zlib error (corrupt gzip data), with err filled. */
static int64_t read_bytes(gzFile f, const char *path, void *buf, int64_t len, ol_error *err) {
    int64_t got = 0;
    while (got < len) {
        int64_t want = len - got;
        unsigned chunk = want > (1 << 30) ? (1u << 30) : (unsigned)want;
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            return ol_fail(err, OL_PATH_FMT " at byte %lld: cannot decompress (%s)",
                           OL_PATH_ARG(path), (long long)gztell(f), msg);
        }
        if (r == 0) break;
        got += r;
    }
    return got;
}

int ol_idx_read(const char *path, ol_idx *out, ol_error *err) {
    memset(out, 0, sizeof *out);
    int64_t file_size;
    int fd = ol_data_open(path, &file_size, err);
    if (fd < 0) return -1;
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return ol_fail(err, "out of memory");
    }
    unsigned char head[4 + 4 * 255];
    unsigned char *buf = NULL;
    int64_t got = read_bytes(f, path, head, 4, err);
    if (got < 0) goto fail;
    if (got < 4) {
        ol_fail(err, OL_PATH_FMT " at byte %lld: truncated header (an IDX file starts with 4 "
                "bytes of magic number)", OL_PATH_ARG(path), (long long)got);
        goto fail;
    }
    if (head[0] != 0 || head[1] != 0 || !type_size(head[2]) || head[3] < 1 || head[3] > 8) {
        const char *why = head[0] != 0 || head[1] != 0 ? "does not start with two zero bytes"
                          : !type_size(head[2])        ? "unknown element type in byte 2"
                                                       : "dimension count in byte 3 not in 1..8";
        ol_fail(err, OL_PATH_FMT " at byte 0: bad magic number 0x%08lx (%s)", OL_PATH_ARG(path),
                (unsigned long)be32(head), why);
        goto fail;
    }
    int type = head[2], ndim = head[3], es = type_size(type);
    int64_t hsize = 4 + 4 * (int64_t)ndim;
    got = read_bytes(f, path, head + 4, 4 * ndim, err);
    if (got < 0) goto fail;
    if (got < 4 * ndim) {
        ol_fail(err, OL_PATH_FMT " at byte %lld: truncated header (%d dimensions need %lld bytes)",
                OL_PATH_ARG(path), (long long)(4 + got), ndim, (long long)hsize);
        goto fail;
    }
    int64_t count = 1;
    for (int k = 0; k < ndim; k++) {
        int64_t dk = be32(head + 4 + 4 * k);
        out->dims[k] = dk;
        if (dk != 0 && count > (INT64_MAX / 8) / dk) {
            ol_fail(err, OL_PATH_FMT " at byte %d: dimensions too large", OL_PATH_ARG(path), 4 + 4 * k);
            goto fail;
        }
        count *= dk;
    }
    int64_t nbytes = count * es, end = hsize + nbytes;
    if ((uint64_t)nbytes > SIZE_MAX / 2) {
        ol_fail(err, OL_PATH_FMT ": %lld bytes of data do not fit in memory", OL_PATH_ARG(path),
                (long long)nbytes);
        goto fail;
    }
    int64_t cap = nbytes;
    if (gzdirect(f)) {
        /* A raw file: its size must be exactly header + data. */
        if (file_size != end) {
            if (file_size < end)
                ol_fail(err, OL_PATH_FMT " at byte %lld: truncated (the header promises %lld "
                        "elements, ending at byte %lld)", OL_PATH_ARG(path),
                        (long long)file_size, (long long)count, (long long)end);
            else
                ol_fail(err, OL_PATH_FMT " at byte %lld: %lld bytes after the data the header "
                        "promises", OL_PATH_ARG(path), (long long)end,
                        (long long)(file_size - end));
            goto fail;
        }
    } else if (cap > (1 << 24)) {
        cap = 1 << 24; /* grow as the stream proves it holds the data */
    }
    buf = malloc((size_t)(cap > 0 ? cap : 1));
    if (!buf) {
        ol_fail(err, "out of memory");
        goto fail;
    }
    int64_t have = 0;
    for (;;) {
        got = read_bytes(f, path, buf + have, cap - have, err);
        if (got < 0) goto fail;
        have += got;
        if (have < cap || cap == nbytes) break;
        int64_t ncap = cap * 2 < nbytes ? cap * 2 : nbytes;
        unsigned char *nb = realloc(buf, (size_t)ncap);
        if (!nb) {
            ol_fail(err, "out of memory");
            goto fail;
        }
        buf = nb;
        cap = ncap;
    }
    if (have < nbytes) {
        ol_fail(err, OL_PATH_FMT " at byte %lld: truncated (the header promises %lld elements, "
                "ending at byte %lld)", OL_PATH_ARG(path), (long long)(hsize + have),
                (long long)count, (long long)end);
        goto fail;
    }
    unsigned char extra;
    got = read_bytes(f, path, &extra, 1, err);
    if (got < 0) goto fail;
    if (got > 0) {
        ol_fail(err, OL_PATH_FMT " at byte %lld: data continue after the %lld elements the "
                "header promises", OL_PATH_ARG(path), (long long)end, (long long)count);
        goto fail;
    }
    gzclose(f);
    f = NULL;

    out->type = type;
    out->ndim = ndim;
    out->count = count;
    if (type == 0x08) {
        out->data = buf;
    } else {
        double *v = malloc((size_t)(count > 0 ? count : 1) * sizeof *v);
        if (!v) {
            free(buf);
            memset(out, 0, sizeof *out);
            return ol_fail(err, "out of memory");
        }
        for (int64_t k = 0; k < count; k++) v[k] = decode(type, buf + k * es);
        free(buf);
        out->data = v;
    }
    return 0;
fail:
    free(buf);
    if (f) gzclose(f);
    memset(out, 0, sizeof *out);
    return -1;
}

void ol_idx_free(ol_idx *idx) {
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

static int64_t idx_header_size(const ol_idx *x) { return 4 + 4 * (int64_t)x->ndim; }

ol_dataset *ol_read_idx(const char *images_path, const char *labels_path, int32_t classes,
                        ol_error *err) {
    ol_idx im, lb = {0};
    if (classes < 0) {
        ol_fail(err, "classes must be >= 0 (0: from the labels), got %ld", (long)classes);
        return NULL;
    }
    if (ol_idx_read(images_path, &im, err) != 0) return NULL;
    int32_t *y = NULL;
    int64_t n = im.dims[0], d = 1; /* one sample per index of dimension 1 */
    for (int k = 1; k < im.ndim; k++) {
        /* With no samples the data are empty whatever the other sizes say,
         * so ol_idx_read accepts them; their product is the feature count
         * and must still fit (found by fuzzing: signed overflow). */
        if (im.dims[k] != 0 && d > ((int64_t)1 << 40) / im.dims[k]) {
            ol_fail(err, OL_PATH_FMT " at byte %d: too many features per sample", OL_PATH_ARG(images_path),
                    4 + 4 * k);
            goto fail;
        }
        d *= im.dims[k];
    }
    if (labels_path) {
        if (ol_idx_read(labels_path, &lb, err) != 0) goto fail;
        if (lb.ndim != 1 || lb.type == 0x0D || lb.type == 0x0E) {
            ol_fail(err, OL_PATH_FMT " at byte 2: labels must be one-dimensional integers "
                    "(type 0x%02x, %d dimensions)", OL_PATH_ARG(labels_path), lb.type, lb.ndim);
            goto fail;
        }
        if (lb.dims[0] != n) {
            ol_fail(err, "image/label count mismatch: %lld images in " OL_PATH_FMT
                    ", %lld labels in " OL_PATH_FMT, (long long)n, OL_PATH_ARG(images_path),
                    (long long)lb.dims[0], OL_PATH_ARG(labels_path));
            goto fail;
        }
        y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
        if (!y) {
            ol_fail(err, "out of memory");
            goto fail;
        }
        int32_t maxl = -1;
        int es = type_size(lb.type);
        for (int64_t i = 0; i < n; i++) {
            double v = lb.type == 0x08 ? ((uint8_t *)lb.data)[i] : ((double *)lb.data)[i];
            /* Class ids are kept 1-based in 32 bits: a label must be in
             * 0..classes-1 when classes is given, else in 0..INT32_MAX-1. */
            const long long at = (long long)(idx_header_size(&lb) + i * es);
            if (classes > 0 && (v < 0 || v >= classes)) {
                ol_fail(err, OL_PATH_FMT " at byte %lld: label %.0f of sample %lld is out of range "
                        "0..%ld", OL_PATH_ARG(labels_path), at, v, (long long)i + 1, (long)classes - 1);
                goto fail;
            }
            if (v < 0 || v > INT32_MAX - 1) {
                ol_fail(err, OL_PATH_FMT " at byte %lld: label %.0f of sample %lld is %s",
                        OL_PATH_ARG(labels_path), at, v, (long long)i + 1,
                        v < 0 ? "negative" : "too large (class ids go up to 2147483646)");
                goto fail;
            }
            y[i] = (int32_t)v + 1;
            if ((int32_t)v > maxl) maxl = (int32_t)v;
        }
        if (classes <= 0) classes = maxl + 1;
        ol_idx_free(&lb);
    }
    ol_ds_kind kind = im.type == 0x08 ? OL_DS_U8 : OL_DS_F64;
    void *x = im.data;
    im.data = NULL;
    return ol_dataset_new(kind, n, d, x, kind == OL_DS_U8 ? 1.0 / 255.0 : 1.0, y, classes, err);
fail:
    free(y);
    ol_idx_free(&im);
    ol_idx_free(&lb);
    return NULL;
}
