/* Safetensors files (engine/io/checkpoint.c): the bytes on disk checked by
 * hand against the format specification, checksums included (against a
 * bitwise CRC-32 written here), round trips, every validation rule on
 * hand-made bad files, every truncation of a good file and every change
 * of one byte, simulated crashes during save with both kinds of
 * temporary file, stale temporaries, symbolic links, files that are not
 * regular, the limits; structured metadata (JSON text written out by
 * hand), the RNG state's form, and how messages name a checkpoint. */
#define _GNU_SOURCE /* O_TMPFILE, to know whether the file system has it */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/checkpoint.h"

static char dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ol_ck_test_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d) closedir(d);
    rmdir(dir);
    return 0;
}

static void path_in(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", dir, name); }

/* CRC-32 (ISO-HDLC) bit by bit, from its definition: reflected polynomial
 * 0xEDB88320, initial value and final xor all ones. */
static uint32_t ref_crc32(const void *buf, size_t n) {
    const unsigned char *p = buf;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *w = fopen(path, "wb");
    assert_non_null(w);
    assert_int_equal(fwrite(b, 1, n, w), n);
    fclose(w);
}

/* Names in dir starting with prefix. */
static int count_prefixed(const char *prefix) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int k = 0;
    while ((e = readdir(d))) k += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return k;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n ? *n : 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* A file made of a header string (length word prepended) and raw data. */
static size_t make_file(unsigned char *buf, const char *header, const void *data, size_t ndata) {
    uint64_t h = strlen(header);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(h >> (8 * i));
    memcpy(buf + 8, header, h);
    if (ndata) memcpy(buf + 8 + h, data, ndata);
    return 8 + h + ndata;
}

/* The saved bytes match the specification, written out by hand. */
static void test_bytes_on_disk(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_error err;
    ol_tensor a, b;
    int64_t sa[2] = {1, 2}, sb[1] = {1};
    assert_int_equal(ol_tensor_full(&a, OL_F32, 2, sa, 1.0, &err), 0);  /* 1.0f = 00 00 80 3f */
    assert_int_equal(ol_tensor_full(&b, OL_F64, 1, sb, -2.0, &err), 0); /* -2.0 = 00..00 c0 */
    ol_ck_init(&ck);
    assert_int_equal(ol_ck_add(&ck, "a", &a, &err), 0);
    assert_int_equal(ol_ck_add(&ck, "b", &b, &err), 0);
    assert_int_equal(ol_ck_set_meta(&ck, "k", "v", &err), 0);
    char p[128];
    path_in(p, sizeof p, "bytes.safetensors");
    assert_int_equal(ol_ck_save(&ck, p, &err), 0);
    ol_ck_free(&ck);
    ol_tensor_release(&a);
    ol_tensor_release(&b);

    size_t n;
    unsigned char *f = slurp(p, &n);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | f[i];
    assert_int_equal((8 + h) % 8, 0); /* data aligned on 8 */
    assert_int_equal(n, 8 + h + 8 + 8); /* one f64 + two f32 */
    char *hdr = strndup((char *)f + 8, h);
    /* f64 first (offsets 0..8), then f32 (8..16); padding is spaces. */
    assert_non_null(strstr(hdr, "\"b\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}"));
    assert_non_null(strstr(hdr, "\"a\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[8,16]}"));
    /* The checksums: of each tensor's bytes, and of the header's content
     * (checkpoint.h), computed here from the definitions. */
    const unsigned char m2_bytes[8] = {0, 0, 0, 0, 0, 0, 0, 0xc0};
    const unsigned char one_bytes[8] = {0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f};
    assert_int_equal(ref_crc32("123456789", 9), 0xCBF43926u); /* the standard check value */
    char crcs[64];
    snprintf(crcs, sizeof crcs, "{\"b\":\"%08x\",\"a\":\"%08x\"}", (unsigned)ref_crc32(m2_bytes, 8),
             (unsigned)ref_crc32(one_bytes, 8));
    unsigned char canon[256];
    size_t cn;
    static const char parts[] = "Ta\0F32\0" "1,2,\0" "8\0" "16\0" "Tb\0F64\0" "1,\0" "0\0" "8\0"
                                "Mk\0v\0" "Moptlua.crc32";
    memcpy(canon, parts, sizeof parts); /* with the zero after "Moptlua.crc32" */
    cn = sizeof parts;
    memcpy(canon + cn, crcs, strlen(crcs) + 1);
    cn += strlen(crcs) + 1;
    /* crcs inside a JSON string: its quotes escaped */
    char esc[96];
    size_t k = 0;
    for (const char *c = crcs; *c; c++) {
        if (*c == '"') esc[k++] = '\\';
        esc[k++] = *c;
    }
    esc[k] = 0;
    char meta[256];
    snprintf(meta, sizeof meta, "\"__metadata__\":{\"k\":\"v\",\"optlua.crc32\":\"%s\","
             "\"optlua.crc32.header\":\"%08x\"}", esc, (unsigned)ref_crc32(canon, cn));
    if (!strstr(hdr, meta)) fail_msg("header %s lacks %s", hdr, meta);
    assert_int_equal(hdr[0], '{');
    for (size_t i = strlen(hdr); i > 0 && hdr[i - 1] != '}'; i--) assert_int_equal(hdr[i - 1], ' ');
    free(hdr);
    const unsigned char *d = f + 8 + h;
    assert_memory_equal(d, m2_bytes, 8);
    assert_memory_equal(d + 8, one_bytes, 8);
    free(f);
}

/* Save and load give back the same bytes, for every dtype and odd shapes. */
static void test_round_trip(void **state) {
    (void)state;
    ol_checkpoint ck, back;
    ol_error err;
    ol_tensor t[4];
    int64_t s0[3] = {2, 3, 5}, s1[1] = {7}, s3[2] = {0, 4};
    assert_int_equal(ol_tensor_empty(&t[0], OL_F32, 3, s0, &err), 0);
    assert_int_equal(ol_tensor_empty(&t[1], OL_F64, 1, s1, &err), 0);
    assert_int_equal(ol_tensor_empty(&t[2], OL_F64, 0, NULL, &err), 0); /* scalar */
    assert_int_equal(ol_tensor_empty(&t[3], OL_F32, 2, s3, &err), 0);   /* empty */
    float *f = ol_tensor_data(&t[0]);
    for (int i = 0; i < 30; i++) f[i] = (float)i / 7.0f - 1.5f;
    double *g = ol_tensor_data(&t[1]);
    for (int i = 0; i < 7; i++) g[i] = 1.0 / (i + 3.0);
    *(double *)ol_tensor_data(&t[2]) = 3.25;
    ol_ck_init(&ck);
    const char *names[4] = {"w", "v", "s", "e"};
    for (int i = 0; i < 4; i++) assert_int_equal(ol_ck_add(&ck, names[i], &t[i], &err), 0);
    assert_int_equal(ol_ck_add(&ck, "w", &t[0], &err), -1);
    assert_non_null(strstr(err.msg, "duplicate"));
    assert_int_equal(ol_ck_set_meta(&ck, "note", "héllo \"x\"", &err), 0);
    char p[128];
    path_in(p, sizeof p, "rt.safetensors");
    assert_int_equal(ol_ck_save(&ck, p, &err), 0);
    assert_int_equal(ol_ck_load(p, &back, &err), 0);
    assert_int_equal(back.ntensors, 4);
    for (int i = 0; i < 4; i++) {
        const ol_tensor *r = ol_ck_find(&back, names[i]);
        assert_non_null(r);
        assert_int_equal(r->dtype, t[i].dtype);
        assert_int_equal(r->ndim, t[i].ndim);
        for (int d = 0; d < r->ndim; d++) assert_int_equal(r->shape[d], t[i].shape[d]);
        size_t nb = (size_t)ol_tensor_numel(r) * ol_dtype_size(r->dtype);
        if (nb) assert_memory_equal(ol_tensor_data(r), ol_tensor_data(&t[i]), nb);
    }
    assert_string_equal(ol_ck_get_meta(&back, "note"), "héllo \"x\"");
    assert_null(ol_ck_get_meta(&back, "nope"));
    ol_ck_free(&back);
    ol_ck_free(&ck);
    for (int i = 0; i < 4; i++) ol_tensor_release(&t[i]);
}

/* Each rule of the reader, on a hand-made file, with the reason named. */
static void test_bad_files(void **state) {
    (void)state;
    static const struct {
        const char *header;
        size_t ndata;
        const char *why;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid JSON"},
        {"[1,2]", 0, "does not start with '{'"},
        {"{\"a\":1}", 0, "'a' is not an object"},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "F16 is not supported"},
        {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'Q7'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12 bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "run past the data"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "begin <= end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[1] is not a size"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dimensions"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, "too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "lacks 'data_offsets'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unknown field 'x'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "bytes 0..4 of the data belong to no tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "4 bytes after the last tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "duplicate"},
        {"{\"__metadata__\":{\"k\":3}}", 0, "'k' is not a string"},
        {"{\"__metadata__\":[]}", 0, "__metadata__ is not an object"},
        {"{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "empty name"},
    };
    unsigned char buf[512], zeros[16] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = make_file(buf, cases[i].header, zeros, cases[i].ndata);
        ol_checkpoint ck;
        ol_error err = {{0}};
        int rc = ol_ck_parse(buf, n, "bad.st", &ck, &err);
        if (rc != -1 || !strstr(err.msg, cases[i].why) || !strstr(err.msg, "bad.st"))
            fail_msg("case %zu: rc %d, message '%s', expected '%s'", i, rc, err.msg, cases[i].why);
        assert_int_equal(ck.ntensors, 0);
    }
    /* The length word itself. */
    ol_checkpoint ck;
    ol_error err;
    unsigned char big[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    assert_int_equal(ol_ck_parse(big, 10, "x", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "header length 65535 but only 2 bytes follow"));
    unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
    assert_int_equal(ol_ck_parse(huge, 10, "x", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "exceeds"));
    assert_int_equal(ol_ck_parse(big, 5, "x", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "too short"));
    /* A well-formed minimal file is accepted: an empty header. */
    size_t n = make_file(buf, "{}      ", NULL, 0);
    assert_int_equal(ol_ck_parse(buf, n, "x", &ck, &err), 0);
    assert_int_equal(ck.ntensors, 0);
    ol_ck_free(&ck);
}

/* Every prefix of a good file fails cleanly, naming the problem. */
static void test_truncations(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_error err;
    ol_tensor t;
    int64_t s[1] = {5};
    assert_int_equal(ol_tensor_full(&t, OL_F64, 1, s, 0.5, &err), 0);
    ol_ck_init(&ck);
    assert_int_equal(ol_ck_add(&ck, "x", &t, &err), 0);
    assert_int_equal(ol_ck_set_meta(&ck, "m", "1", &err), 0);
    char p[128];
    path_in(p, sizeof p, "trunc.safetensors");
    assert_int_equal(ol_ck_save(&ck, p, &err), 0);
    ol_ck_free(&ck);
    ol_tensor_release(&t);
    size_t n;
    unsigned char *f = slurp(p, &n);
    for (size_t k = 0; k < n; k++) {
        unsigned char *cut = malloc(k ? k : 1);
        memcpy(cut, f, k);
        if (ol_ck_parse(cut, k, "cut", &ck, &err) != -1) fail_msg("prefix of %zu bytes accepted", k);
        free(cut);
    }
    /* The same through the file reader. */
    FILE *w = fopen(p, "wb");
    fwrite(f, 1, n - 3, w);
    fclose(w);
    assert_int_equal(ol_ck_load(p, &ck, &err), -1);
    assert_non_null(strstr(err.msg, "trunc.safetensors"));
    free(f);
}

/* A checkpoint of one tensor x, 1000 floats of value v. */
static void make_x(ol_checkpoint *ck, double v) {
    ol_error err;
    ol_tensor t;
    int64_t s[1] = {1000};
    assert_int_equal(ol_tensor_full(&t, OL_F32, 1, s, v, &err), 0);
    ol_ck_init(ck);
    assert_int_equal(ol_ck_add(ck, "x", &t, &err), 0);
    ol_tensor_release(&t);
}

/* That checkpoint saved to p. */
static void save_x(const char *p, double v) {
    ol_checkpoint ck;
    ol_error err;
    make_x(&ck, v);
    if (ol_ck_save(&ck, p, &err) != 0) fail_msg("save: %s", err.msg);
    ol_ck_free(&ck);
}

/* Saving the x checkpoint to p with the crash hook set at 1000 bytes. */
static void crash_x(const char *p, double v) {
    ol_checkpoint ck;
    ol_error err;
    make_x(&ck, v);
    setenv("OL_CHECKPOINT_FAIL_AFTER", "1000", 1);
    int rc = ol_ck_save(&ck, p, &err);
    unsetenv("OL_CHECKPOINT_FAIL_AFTER");
    ol_ck_free(&ck);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "simulated crash after 1000 bytes"));
}

/* x[999] of the checkpoint at p, which must load. */
static float load_x(const char *p) {
    ol_checkpoint back;
    ol_error err;
    if (ol_ck_load(p, &back, &err) != 0) fail_msg("load: %s", err.msg);
    const ol_tensor *r = ol_ck_find(&back, "x");
    assert_non_null(r);
    float v = ((const float *)ol_tensor_data(r))[999];
    for (int i = 0; i < 1000; i++) assert_true(((const float *)ol_tensor_data(r))[i] == v);
    ol_ck_free(&back);
    return v;
}

/* Whether the test directory's file system makes unnamed temporary files. */
static int have_tmpfile(void) {
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_WRONLY, 0600);
    if (fd >= 0) close(fd);
    return fd >= 0;
#else
    return 0;
#endif
}

/* A save that dies midway leaves the old file intact under the target
 * name and, written through an unnamed temporary file, nothing else. */
static void test_crash_unnamed(void **state) {
    (void)state;
    if (!have_tmpfile()) skip(); /* the file system has no O_TMPFILE */
    char p[128];
    path_in(p, sizeof p, "atomic.safetensors");
    save_x(p, 1.0);
    crash_x(p, 2.0);
    assert_int_equal(count_prefixed("atomic.safetensors.tmp."), 0);
    assert_true(load_x(p) == 1.0f);
    save_x(p, 2.0);
    assert_true(load_x(p) == 2.0f);
    assert_int_equal(count_prefixed("atomic.safetensors"), 1);
    /* Unwritable places fail with the reason. */
    ol_checkpoint ck, back;
    ol_error err;
    ol_ck_init(&ck);
    assert_int_equal(ol_ck_save(&ck, "/nonexistent-dir/x.safetensors", &err), -1);
    assert_non_null(strstr(err.msg, "No such file"));
    assert_int_equal(ol_ck_load("/nonexistent-dir/x.safetensors", &back, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
}

/* The same through a named temporary file (as where O_TMPFILE is
 * missing): the half-written file stays, as a crash leaves it, and the
 * next save to that target removes it. */
static void test_crash_named(void **state) {
    (void)state;
    char p[128];
    path_in(p, sizeof p, "named.safetensors");
    setenv("OL_CHECKPOINT_NAMED_TMP", "1", 1);
    save_x(p, 1.0);
    assert_int_equal(count_prefixed("named.safetensors.tmp."), 0);
    crash_x(p, 2.0);
    assert_int_equal(count_prefixed("named.safetensors.tmp."), 1);
    assert_true(load_x(p) == 1.0f);
    /* A save that completes replaces the target and removes the leftover. */
    save_x(p, 2.0);
    unsetenv("OL_CHECKPOINT_NAMED_TMP");
    assert_int_equal(count_prefixed("named.safetensors.tmp."), 0);
    assert_true(load_x(p) == 2.0f);
}

/* Temporaries that earlier saves left (a process killed while writing a
 * named one) go at the next save to the same target: regular files named
 * exactly TARGET.tmp.XXXXXX, nothing else. */
static void test_stale_temporaries(void **state) {
    (void)state;
    static const char *const gone[] = {"st.safetensors.tmp.AbC123", "st.safetensors.tmp.zzzzzz"};
    static const char *const kept[] = {
        "st.safetensors.tmp.AbC12",   /* five letters */
        "st.safetensors.tmp.AbC1234", /* seven */
        "st.safetensors.tmp.AbC-12",  /* not a letter or digit */
        "st.safetensors.tmpxAbC123",  /* not the pattern */
        "other.safetensors.tmp.AbC123", /* another target's */
        "xst.safetensors.tmp.AbC123",
    };
    char p[160];
    for (size_t i = 0; i < 2; i++) {
        path_in(p, sizeof p, gone[i]);
        write_bytes(p, "stale", 5);
    }
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        path_in(p, sizeof p, kept[i]);
        write_bytes(p, "keep", 4);
    }
    /* Neither a directory nor a symbolic link of that name is touched. */
    path_in(p, sizeof p, "st.safetensors.tmp.Dir123");
    assert_int_equal(mkdir(p, 0700), 0);
    char q[160];
    path_in(q, sizeof q, "keep.me");
    write_bytes(q, "keep", 4);
    path_in(p, sizeof p, "st.safetensors.tmp.Lnk123");
    assert_int_equal(symlink(q, p), 0);
    path_in(p, sizeof p, "st.safetensors");
    save_x(p, 3.0);
    assert_true(load_x(p) == 3.0f);
    for (size_t i = 0; i < 2; i++) {
        path_in(p, sizeof p, gone[i]);
        assert_int_equal(access(p, F_OK), -1);
    }
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        path_in(p, sizeof p, kept[i]);
        assert_int_equal(access(p, F_OK), 0);
        unlink(p);
    }
    assert_int_equal(access(q, F_OK), 0);
    path_in(p, sizeof p, "st.safetensors.tmp.Dir123");
    assert_int_equal(rmdir(p), 0);
    path_in(p, sizeof p, "st.safetensors.tmp.Lnk123");
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
}

/* A save to a symbolic link writes the file at the end of the chain and
 * leaves the links; a dangling link creates its target; an existing
 * target keeps its permission bits; a directory is refused. */
static void test_symlinks(void **state) {
    (void)state;
    char target[160], l1[160], l2[160], sub[160];
    path_in(sub, sizeof sub, "sub");
    assert_int_equal(mkdir(sub, 0700), 0);
    path_in(target, sizeof target, "sub/real.safetensors");
    save_x(target, 1.0);
    assert_int_equal(chmod(target, 0640), 0);
    path_in(l2, sizeof l2, "l2");
    assert_int_equal(symlink("sub/real.safetensors", l2), 0); /* relative to the link's directory */
    path_in(l1, sizeof l1, "l1");
    assert_int_equal(symlink(l2, l1), 0);
    save_x(l1, 4.0);
    struct stat st;
    assert_int_equal(lstat(l1, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(l2, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_true(load_x(target) == 4.0f);
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    /* Dangling: the target is made. */
    char dangling[160], made[160];
    path_in(dangling, sizeof dangling, "dangling");
    assert_int_equal(symlink("sub/new.safetensors", dangling), 0);
    save_x(dangling, 5.0);
    path_in(made, sizeof made, "sub/new.safetensors");
    assert_true(load_x(made) == 5.0f);
    assert_int_equal(lstat(dangling, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    /* A loop is an error, as is a target that is a directory. */
    char loop[160];
    path_in(loop, sizeof loop, "loop");
    assert_int_equal(symlink("loop", loop), 0);
    ol_checkpoint ck;
    ol_error err;
    ol_ck_init(&ck);
    assert_int_equal(ol_ck_save(&ck, loop, &err), -1);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(ol_ck_save(&ck, sub, &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    unlink(l1);
    unlink(l2);
    unlink(dangling);
    unlink(loop);
    unlink(made);
    unlink(target);
    rmdir(sub);
}

/* A FIFO, a directory or a device is refused at once: the open does not
 * wait for a writer (the alarm ends a reader that would wait). */
static void test_not_regular(void **state) {
    (void)state;
    char p[128];
    path_in(p, sizeof p, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    ol_checkpoint ck;
    ol_error err;
    alarm(20);
    assert_int_equal(ol_ck_load(p, &ck, &err), -1);
    assert_non_null(strstr(err.msg, "is not a regular file"));
    assert_int_equal(ol_ck_load(dir, &ck, &err), -1);
    assert_non_null(strstr(err.msg, "is not a regular file"));
    assert_int_equal(ol_ck_load("/dev/null", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "is not a regular file"));
    alarm(0);
    unlink(p);
}

/* A file with one tensor w (f32, shape {3}) and metadata built from the
 * header text, written out by hand: no checksums, as files written before
 * them (and by other tools). */
static void test_unverified_files(void **state) {
    (void)state;
    unsigned char buf[512];
    const float w[3] = {1, 2, 3};
    size_t n = make_file(buf, "{\"__metadata__\":{\"note\":\"old\"},"
                              "\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", w, 12);
    ol_checkpoint ck;
    ol_error err;
    assert_int_equal(ol_ck_parse(buf, n, "old", &ck, &err), 0);
    assert_int_equal(ck.verified, 0);
    assert_string_equal(ol_ck_get_meta(&ck, "note"), "old");
    ol_ck_free(&ck);
    /* One that optlua writes is verified, and its checksum keys are the
     * file's, not the checkpoint's. */
    char p[128];
    path_in(p, sizeof p, "v.safetensors");
    save_x(p, 1.0);
    assert_int_equal(ol_ck_load(p, &ck, &err), 0);
    assert_int_equal(ck.verified, 1);
    assert_int_equal(ck.nmeta, 0);
    assert_null(ol_ck_get_meta(&ck, "optlua.crc32"));
    ol_ck_free(&ck);
    ol_ck_init(&ck);
    assert_int_equal(ol_ck_set_meta(&ck, "optlua.crc32", "{}", &err), -1);
    assert_non_null(strstr(err.msg, "reserved"));
    assert_int_equal(ol_ck_set_meta(&ck, "optlua.crc32.header", "0", &err), -1);
    ol_ck_free(&ck);
}

/* Damage the checksums find, each with its reason. */
static void test_checksums(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_error err;
    ol_tensor t;
    int64_t s[1] = {4};
    assert_int_equal(ol_tensor_full(&t, OL_F64, 1, s, 0.25, &err), 0);
    ol_ck_init(&ck);
    assert_int_equal(ol_ck_add(&ck, "w", &t, &err), 0);
    assert_int_equal(ol_ck_set_meta(&ck, "optim.t", "17", &err), 0);
    char p[128];
    path_in(p, sizeof p, "crc.safetensors");
    assert_int_equal(ol_ck_save(&ck, p, &err), 0);
    ol_ck_free(&ck);
    ol_tensor_release(&t);
    size_t n;
    unsigned char *f = slurp(p, &n);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | f[i];
    char *hdr = (char *)f + 8;
    /* A data byte. */
    f[8 + h + 9] ^= 0x10;
    assert_int_equal(ol_ck_parse(f, n, "d", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "the data of tensor 'w' (bytes 0..32) do not match its checksum"));
    f[8 + h + 9] ^= 0x10;
    /* A metadata value: the step count 17 becomes 18. */
    char *at = strstr(hdr, "\"17\"");
    assert_non_null(at);
    at[2] = '8';
    assert_int_equal(ol_ck_parse(f, n, "m", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "the header does not match its checksum"));
    at[2] = '7';
    /* Either checksum key without the other. */
    at = strstr(hdr, "\"optlua.crc32\"");
    assert_non_null(at);
    at[12] = 'x';
    assert_int_equal(ol_ck_parse(f, n, "k", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "metadata 'optlua.crc32.header' without 'optlua.crc32'"));
    at[12] = '2';
    at = strstr(hdr, "\"optlua.crc32.header\"");
    at[19] = 'x';
    assert_int_equal(ol_ck_parse(f, n, "k", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "metadata 'optlua.crc32' without 'optlua.crc32.header'"));
    at[19] = 'r';
    assert_int_equal(ol_ck_parse(f, n, "good", &ck, &err), 0);
    ol_ck_free(&ck);
    free(f);
}

/* Offsets exchanged between two tensors of one size still tile the data;
 * a file optlua wrote lists its tensors in the order of their data, so
 * it is refused; the same layout in a file of another tool is valid. */
static void test_exchanged_offsets(void **state) {
    (void)state;
    const double v[4] = {1, 2, 3, 4};
    static const char *const body = "\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[16,32]},"
                                    "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
    char header[512];
    unsigned char buf[600];
    snprintf(header, sizeof header, "{\"__metadata__\":{\"optlua.format\":\"1\"},%s", body);
    size_t n = make_file(buf, header, v, sizeof v);
    ol_checkpoint ck;
    ol_error err;
    assert_int_equal(ol_ck_parse(buf, n, "swap", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "tensor 'a' begins at byte 16 of the data, not at 0"));
    snprintf(header, sizeof header, "{%s", body);
    n = make_file(buf, header, v, sizeof v);
    assert_int_equal(ol_ck_parse(buf, n, "foreign", &ck, &err), 0);
    assert_true(((const double *)ol_tensor_data(ol_ck_find(&ck, "a")))[0] == 3);
    ol_ck_free(&ck);
}

/* The header's limits (checkpoint.h), refused before the header is
 * parsed, and the writer's side of them. */
static void test_limits(void **state) {
    (void)state;
    /* More entries than the limit, each an empty tensor. */
    const int count = OL_CK_MAX_ENTRIES + 1;
    size_t cap = (size_t)count * 64 + 64;
    unsigned char *buf = malloc(cap);
    char *h = (char *)buf + 8;
    size_t k = 0;
    h[k++] = '{';
    for (int i = 0; i < count; i++)
        k += (size_t)sprintf(h + k, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                             i ? "," : "", i);
    h[k++] = '}';
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)k >> (8 * i));
    ol_checkpoint ck;
    ol_error err;
    assert_int_equal(ol_ck_parse(buf, 8 + k, "many", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "65537 tensors and 0 metadata keys exceed the limit of 65536 entries"));
    /* More structure than that many entries may have is refused before
     * jansson builds any of it. */
    k = 0;
    k += (size_t)sprintf(h, "{\"a\":{\"shape\":[0");
    for (int i = 0; i < 20 * OL_CK_MAX_ENTRIES; i++) h[k++] = ',', h[k++] = '0';
    k += (size_t)sprintf(h + k, "]}}");
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)k >> (8 * i));
    assert_int_equal(ol_ck_parse(buf, 8 + k, "tokens", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "header holds more than 65536 entries"));
    /* Just the limit, counting the metadata keys, is read. */
    k = 0;
    h[k++] = '{';
    k += (size_t)sprintf(h + k, "\"__metadata__\":{\"m\":\"1\"}");
    for (int i = 0; i < OL_CK_MAX_ENTRIES - 1; i++)
        k += (size_t)sprintf(h + k, ",\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", i);
    h[k++] = '}';
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)k >> (8 * i));
    if (ol_ck_parse(buf, 8 + k, "limit", &ck, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(ck.ntensors + ck.nmeta, OL_CK_MAX_ENTRIES);
    /* The writer refuses what the reader would. */
    assert_int_equal(ol_ck_set_meta(&ck, "m2", "2", &err), 0);
    char p[128];
    path_in(p, sizeof p, "limit.safetensors");
    assert_int_equal(ol_ck_save(&ck, p, &err), -1);
    assert_non_null(strstr(err.msg, "exceed the limit of 65536 entries"));
    ol_ck_free(&ck);
    free(buf);
    /* A header longer than the limit; metadata that would make one. */
    unsigned char big[16] = {0, 0, 0, 1, 0, 0, 0, 0, '{', '}'}; /* 16 MiB */
    big[2] = 0;
    big[3] = 1;
    big[0] = 1;
    assert_int_equal(ol_ck_parse(big, 10, "x", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "header length 16777217 exceeds the 16777216-byte limit"));
    char *huge = malloc(OL_CK_MAX_HEADER + 1);
    memset(huge, 'a', OL_CK_MAX_HEADER);
    huge[OL_CK_MAX_HEADER] = 0;
    ol_ck_init(&ck);
    assert_int_equal(ol_ck_set_meta(&ck, "big", huge, &err), 0);
    free(huge);
    assert_int_equal(ol_ck_save(&ck, p, &err), -1);
    assert_non_null(strstr(err.msg, "over the limit of 16777216"));
    ol_ck_free(&ck);
    /* Nesting deeper than a header's. */
    unsigned char deep[64];
    size_t n = make_file(deep, "{\"a\":{\"shape\":[[0]]}}", NULL, 0);
    assert_int_equal(ol_ck_parse(deep, n, "deep", &ck, &err), -1);
    assert_non_null(strstr(err.msg, "nests deeper than a safetensors header at byte 23"));
}

/* Two checkpoints hold the same tensors (names, dtypes, shapes, bytes)
 * and metadata. */
static int same_content(const ol_checkpoint *a, const ol_checkpoint *b) {
    if (a->ntensors != b->ntensors || a->nmeta != b->nmeta) return 0;
    for (int i = 0; i < a->ntensors; i++) {
        const ol_tensor *x = &a->tensors[i].t, *y = ol_ck_find(b, a->tensors[i].name);
        if (!y || x->dtype != y->dtype || x->ndim != y->ndim) return 0;
        for (int d = 0; d < x->ndim; d++)
            if (x->shape[d] != y->shape[d]) return 0;
        size_t nb = (size_t)ol_tensor_numel(x) * ol_dtype_size(x->dtype);
        if (nb && memcmp(ol_tensor_data(x), ol_tensor_data(y), nb) != 0) return 0;
    }
    for (int i = 0; i < a->nmeta; i++) {
        const char *v = ol_ck_get_meta(b, a->meta[i].key);
        if (!v || strcmp(v, a->meta[i].value) != 0) return 0;
    }
    return 1;
}

/* Every byte of a small checkpoint changed, one at a time, in every bit
 * and to a set of values (bytes of JSON's syntax, digits, the
 * neighbours): each change is refused with a message, or reads back the
 * same content, which only a blank of the padding may. */
static void test_every_byte(void **state) {
    (void)state;
    ol_checkpoint ck, orig, got;
    ol_error err;
    ol_tensor t[4];
    int64_t s0[2] = {2, 3}, s1[1] = {3}, s3[1] = {0};
    assert_int_equal(ol_tensor_empty(&t[0], OL_F32, 2, s0, &err), 0);
    assert_int_equal(ol_tensor_empty(&t[1], OL_F64, 1, s1, &err), 0);
    assert_int_equal(ol_tensor_empty(&t[2], OL_F32, 0, NULL, &err), 0);
    assert_int_equal(ol_tensor_empty(&t[3], OL_F32, 1, s3, &err), 0);
    for (int i = 0; i < 6; i++) ((float *)ol_tensor_data(&t[0]))[i] = (float)i / 3 - 1;
    for (int i = 0; i < 3; i++) ((double *)ol_tensor_data(&t[1]))[i] = 1.0 / (i + 7);
    *(float *)ol_tensor_data(&t[2]) = 0.5f;
    ol_ck_init(&ck);
    const char *names[4] = {"w", "optim.state.exp_avg", "s", "e"};
    for (int i = 0; i < 4; i++) assert_int_equal(ol_ck_add(&ck, names[i], &t[i], &err), 0);
    ol_rng_state rs = {{1, 2, 3, 4}};
    assert_int_equal(ol_ck_put_rng(&ck, &rs, &err), 0);
    assert_int_equal(ol_ck_set_meta(&ck, "optim.t", "12", &err), 0);
    assert_int_equal(ol_ck_set_meta(&ck, "optim.options", "{\"lr\":0.001,\"betas\":[0.9,0.999]}", &err), 0);
    assert_int_equal(ol_ck_set_meta(&ck, "optlua.format", "1", &err), 0);
    assert_int_equal(ol_ck_set_meta(&ck, "note", "h\xc3\xa9llo", &err), 0);
    char p[128];
    path_in(p, sizeof p, "every.safetensors");
    assert_int_equal(ol_ck_save(&ck, p, &err), 0);
    ol_ck_free(&ck);
    for (int i = 0; i < 4; i++) ol_tensor_release(&t[i]);
    size_t n;
    unsigned char *f = slurp(p, &n);
    assert_int_equal(ol_ck_parse(f, n, "orig", &orig, &err), 0);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | f[i];
    static const unsigned char values[] = {0x00, 0xff, 0x7f, 0x80, ' ', '\t', '\n', '"', '\\', ',', ':',
                                           '{', '}', '[', ']', '0', '1', '9', '-', '.', 'e', 'a', 'z'};
    unsigned char *m = malloc(n);
    long refused = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char want[8 + sizeof values + 2];
        size_t nv = 0;
        for (int b = 0; b < 8; b++) want[nv++] = f[i] ^ (unsigned char)(1u << b);
        for (size_t k = 0; k < sizeof values; k++) want[nv++] = values[k];
        want[nv++] = (unsigned char)(f[i] + 1);
        want[nv++] = (unsigned char)(f[i] - 1);
        for (size_t k = 0; k < nv; k++) {
            if (want[k] == f[i]) continue;
            memcpy(m, f, n);
            m[i] = want[k];
            err.msg[0] = 0;
            if (ol_ck_parse(m, n, "m", &got, &err) != 0) {
                if (!err.msg[0]) fail_msg("byte %zu -> 0x%02x: refused without a reason", i, want[k]);
                refused++;
                continue;
            }
            /* The JSON is compact: only the padding's blanks can change
             * (to other blanks) without changing what the file says. */
            if (f[i] != ' ') fail_msg("byte %zu (0x%02x) -> 0x%02x accepted", i, f[i], want[k]);
            if (!same_content(&orig, &got))
                fail_msg("byte %zu (0x%02x '%c') -> 0x%02x read back different content", i, f[i],
                         f[i] >= 32 && f[i] < 127 ? f[i] : '?', want[k]);
            ol_ck_free(&got);
        }
    }
    assert_true(refused > 20 * (long)n);
    free(m);
    free(f);
    ol_ck_free(&orig);
}

/* Structured metadata: the JSON text written out by hand, then read back. */
static void test_meta_json(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_error err;
    ol_ck_init(&ck);
    json_t *j = json_object();
    json_object_set_new(j, "b", json_real(0.05));     /* shortest form, not ...0003 */
    json_object_set_new(j, "a", json_real(1.0));      /* stays a real */
    json_object_set_new(j, "third", json_real(1.0 / 3));
    json_object_set_new(j, "tiny", json_real(1e-8));
    json_object_set_new(j, "big", ol_ck_json_double(INFINITY));
    json_object_set_new(j, "nan", ol_ck_json_double(NAN));
    json_object_set_new(j, "neg", ol_ck_json_double(-INFINITY));
    json_object_set_new(j, "n", json_integer(-3));
    json_t *a = json_array();
    json_array_append_new(a, json_true());
    json_array_append_new(a, json_string("q\"uote"));
    json_array_append_new(a, json_real(-0.0));
    json_object_set_new(j, "list", a);
    assert_int_equal(ol_ck_set_meta_json(&ck, "k", j, &err), 0);
    assert_string_equal(ol_ck_get_meta(&ck, "k"),
                        "{\"b\":0.05,\"a\":1.0,\"third\":0.3333333333333333,\"tiny\":1e-08,"
                        "\"big\":\"inf\",\"nan\":\"nan\",\"neg\":\"-inf\",\"n\":-3,"
                        "\"list\":[true,\"q\\\"uote\",-0.0]}");
    json_t *back;
    assert_int_equal(ol_ck_get_meta_json(&ck, "k", &back, &err), 0);
    double v;
    assert_int_equal(ol_ck_json_to_double(json_object_get(back, "b"), &v), 0);
    assert_true(v == 0.05);
    assert_int_equal(ol_ck_json_to_double(json_object_get(back, "third"), &v), 0);
    assert_true(v == 1.0 / 3);
    assert_int_equal(ol_ck_json_to_double(json_object_get(back, "big"), &v), 0);
    assert_true(isinf(v) && v > 0);
    assert_int_equal(ol_ck_json_to_double(json_object_get(back, "neg"), &v), 0);
    assert_true(isinf(v) && v < 0);
    assert_int_equal(ol_ck_json_to_double(json_object_get(back, "nan"), &v), 0);
    assert_true(isnan(v));
    assert_int_equal(ol_ck_json_to_double(json_object_get(back, "n"), &v), 0);
    assert_true(v == -3);
    assert_int_equal(ol_ck_json_to_double(json_array_get(json_object_get(back, "list"), 0), &v), -1);
    assert_int_equal(ol_ck_json_to_double(json_array_get(json_object_get(back, "list"), 1), &v), -1);
    json_decref(back);
    /* Absent: no value, no error. Malformed: the key and the checkpoint named. */
    assert_int_equal(ol_ck_get_meta_json(&ck, "absent", &back, &err), 0);
    assert_null(back);
    assert_int_equal(ol_ck_set_meta(&ck, "bad", "{\"x\":", &err), 0);
    assert_int_equal(ol_ck_get_meta_json(&ck, "bad", &back, &err), -1);
    assert_null(back);
    assert_non_null(strstr(err.msg, "checkpoint '(in memory)': metadata 'bad' is not valid JSON"));
    /* NULL (a failed json_* constructor) is an error, not a crash. */
    assert_int_equal(ol_ck_set_meta_json(&ck, "none", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "'none'"));
    ol_ck_free(&ck);
}

/* The RNG state: four hex words, written and read back; bad forms refused. */
static void test_rng(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_error err;
    ol_ck_init(&ck);
    ol_rng_state s = {{0x0123456789abcdefULL, 0, 0xffffffffffffffffULL, 42}}, back;
    assert_int_equal(ol_ck_get_rng(&ck, &back, &err), 1);
    assert_int_equal(ol_ck_put_rng(&ck, &s, &err), 0);
    assert_string_equal(ol_ck_get_meta(&ck, "rng.state"),
                        "[\"0123456789abcdef\",\"0000000000000000\",\"ffffffffffffffff\","
                        "\"000000000000002a\"]");
    assert_int_equal(ol_ck_get_rng(&ck, &back, &err), 0);
    assert_memory_equal(back.s, s.s, sizeof s.s);
    static const char *const bad[] = {
        "[\"0123456789abcdef\",\"0\",\"0\"]",
        "[\"0123456789ABCDEF\",\"0000000000000000\",\"0000000000000000\",\"0000000000000000\"]",
        "[\"0123456789abcde\",\"0000000000000000\",\"0000000000000000\",\"0000000000000000\"]",
        "[1,2,3,4]",
        "{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ol_ck_set_meta(&ck, "rng.state", bad[i], &err), 0);
        assert_int_equal(ol_ck_get_rng(&ck, &back, &err), -1);
        assert_non_null(strstr(err.msg, "metadata 'rng.state' is not four 64-bit hex words"));
    }
    /* All zero: xoshiro256** would draw zeros forever from it. */
    assert_int_equal(ol_ck_set_meta(&ck, "rng.state", "[\"0000000000000000\",\"0000000000000000\","
                                    "\"0000000000000000\",\"0000000000000000\"]", &err), 0);
    assert_int_equal(ol_ck_get_rng(&ck, &back, &err), -1);
    assert_non_null(strstr(err.msg, "metadata 'rng.state' is all zero"));
    ol_ck_free(&ck);
}

/* Messages name a checkpoint by the path it was read from. */
static void test_names(void **state) {
    (void)state;
    ol_checkpoint ck, back;
    ol_error err;
    char p[128];
    path_in(p, sizeof p, "named.safetensors");
    ol_ck_init(&ck);
    assert_string_equal(ol_ck_name(&ck), "(in memory)");
    assert_int_equal(ol_ck_set_meta(&ck, "k", "v", &err), 0);
    assert_int_equal(ol_ck_save(&ck, p, &err), 0);
    assert_int_equal(ol_ck_load(p, &back, &err), 0);
    assert_string_equal(ol_ck_name(&back), p);
    ol_ck_free(&back);
    assert_null(back.source);
    size_t n;
    unsigned char *bytes = slurp(p, &n);
    assert_int_equal(ol_ck_parse(bytes, n, "buffer", &back, &err), 0);
    assert_string_equal(ol_ck_name(&back), "buffer");
    ol_ck_free(&back);
    free(bytes);
    ol_ck_free(&ck);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_on_disk),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_crash_unnamed),
        cmocka_unit_test(test_crash_named),
        cmocka_unit_test(test_stale_temporaries),
        cmocka_unit_test(test_symlinks),
        cmocka_unit_test(test_not_regular),
        cmocka_unit_test(test_unverified_files),
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_exchanged_offsets),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_meta_json),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
