/* Safetensors files (engine/io/checkpoint.c): the bytes on disk checked by
 * hand against the format specification, round trips, every validation
 * rule on hand-made bad files, every truncation of a good file, a
 * simulated crash during save; structured metadata (JSON text written out
 * by hand), the RNG state's form, and how messages name a checkpoint. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    assert_non_null(strstr(hdr, "\"__metadata__\":{\"k\":\"v\"}"));
    assert_int_equal(hdr[0], '{');
    for (size_t i = strlen(hdr); i > 0 && hdr[i - 1] != '}'; i--) assert_int_equal(hdr[i - 1], ' ');
    free(hdr);
    const unsigned char *d = f + 8 + h;
    const unsigned char m2[8] = {0, 0, 0, 0, 0, 0, 0, 0xc0};
    const unsigned char one[8] = {0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f};
    assert_memory_equal(d, m2, 8);
    assert_memory_equal(d + 8, one, 8);
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

/* A save that dies midway leaves the old file intact under the target name. */
static void test_crash_during_save(void **state) {
    (void)state;
    ol_checkpoint ck, back;
    ol_error err;
    ol_tensor t;
    int64_t s[1] = {1000};
    char p[128];
    path_in(p, sizeof p, "atomic.safetensors");
    assert_int_equal(ol_tensor_full(&t, OL_F32, 1, s, 1.0, &err), 0);
    ol_ck_init(&ck);
    assert_int_equal(ol_ck_add(&ck, "x", &t, &err), 0);
    assert_int_equal(ol_ck_save(&ck, p, &err), 0);
    ol_fill_(&t, 2.0); /* shared storage: the next save would write 2s */
    setenv("OL_CHECKPOINT_FAIL_AFTER", "1000", 1);
    assert_int_equal(ol_ck_save(&ck, p, &err), -1);
    unsetenv("OL_CHECKPOINT_FAIL_AFTER");
    assert_non_null(strstr(err.msg, "simulated crash"));
    /* The half-written temporary file exists beside the target... */
    DIR *d = opendir(dir);
    struct dirent *e;
    int tmps = 0;
    while ((e = readdir(d))) tmps += strncmp(e->d_name, "atomic.safetensors.tmp.", 23) == 0;
    closedir(d);
    assert_int_equal(tmps, 1);
    /* ...and the target still holds the first save, whole. */
    assert_int_equal(ol_ck_load(p, &back, &err), 0);
    const ol_tensor *r = ol_ck_find(&back, "x");
    assert_non_null(r);
    for (int i = 0; i < 1000; i++) assert_true(((const float *)ol_tensor_data(r))[i] == 1.0f);
    ol_ck_free(&back);
    /* A save that completes replaces it. */
    assert_int_equal(ol_ck_save(&ck, p, &err), 0);
    assert_int_equal(ol_ck_load(p, &back, &err), 0);
    assert_true(((const float *)ol_tensor_data(ol_ck_find(&back, "x")))[999] == 2.0f);
    ol_ck_free(&back);
    ol_ck_free(&ck);
    ol_tensor_release(&t);
    /* Unwritable places fail with the reason. */
    ol_ck_init(&ck);
    assert_int_equal(ol_ck_save(&ck, "/nonexistent-dir/x.safetensors", &err), -1);
    assert_non_null(strstr(err.msg, "No such file"));
    assert_int_equal(ol_ck_load("/nonexistent-dir/x.safetensors", &back, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
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
        cmocka_unit_test(test_crash_during_save),
        cmocka_unit_test(test_meta_json),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
