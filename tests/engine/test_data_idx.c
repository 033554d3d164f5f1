/* IDX reader: fixture files written here (raw and gzip) with hand-chosen
 * bytes, corrupt variants, labels at the edges of their range, files that
 * are not regular, and the real Fashion-MNIST files when the
 * dataset-fashion-mnist package is installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <zlib.h>

#include <cmocka.h>

#include "data/readers.h"

static char dir[64];

static const char *path_of(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_file(const char *name, const unsigned char *b, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path_of(name), "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, b, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path_of(name), "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b, 1, n, f), n);
        fclose(f);
    }
}

/* 3 images of 2x2 bytes and their labels 0, 2, 1, built byte by byte. */
static const unsigned char images[] = {0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2,
                                       0, 255, 51, 102, 1, 2, 3, 4, 200, 100, 50, 25};
static const unsigned char labels[] = {0, 0, 0x08, 1, 0, 0, 0, 3, 0, 2, 1};

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/ol_idx_XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    const char *names[] = {"im", "lb", "im.gz", "lb.gz", "bad", "f32", "lb9", "fifo", "im1", "lbmax"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(path_of(names[i]));
    rmdir(dir);
    return 0;
}

static void check_small(ol_dataset *ds) {
    assert_non_null(ds);
    assert_int_equal(ds->n, 3);
    assert_int_equal(ds->d, 4);
    assert_int_equal(ds->classes, 3); /* largest label 2, plus one */
    assert_int_equal(ol_dataset_label(ds, 0), 1);
    assert_int_equal(ol_dataset_label(ds, 1), 3);
    assert_int_equal(ol_dataset_label(ds, 2), 2);
    int64_t idx[2] = {2, 0};
    double x[8];
    int32_t ids[2] = {-9, -9}, idf[2] = {-9, -9};
    ol_dataset_gather(ds, idx, 2, OL_F64, x, ids);
    const double want[8] = {200 / 255.0, 100 / 255.0, 50 / 255.0, 25 / 255.0, 0, 1, 0.2, 0.4};
    for (int k = 0; k < 8; k++) assert_true(fabs(x[k] - want[k]) < 1e-15);
    assert_true(ids[0] == 1 && ids[1] == 0); /* labels 2 and 1, as 0-based class ids */
    float xf[8];
    ol_dataset_gather(ds, idx, 2, OL_F32, xf, idf);
    for (int k = 0; k < 8; k++) assert_true(fabsf(xf[k] - (float)want[k]) < 1e-7f);
    assert_true(idf[0] == 1 && idf[1] == 0);
    ol_dataset_free(ds);
}

static void test_raw_and_gzip(void **state) {
    (void)state;
    ol_error err = {{0}};
    write_file("im", images, sizeof images, 0);
    write_file("lb", labels, sizeof labels, 0);
    write_file("im.gz", images, sizeof images, 1);
    write_file("lb.gz", labels, sizeof labels, 1);
    check_small(ol_read_idx(path_of("im"), path_of("lb"), 0, &err));
    check_small(ol_read_idx(path_of("im.gz"), path_of("lb.gz"), 0, &err));
    check_small(ol_read_idx(path_of("im"), path_of("lb.gz"), 0, &err));
    ol_dataset *ds = ol_read_idx(path_of("im.gz"), path_of("lb.gz"), 10, &err);
    assert_non_null(ds);
    assert_int_equal(ds->classes, 10);
    ol_dataset_free(ds);
}

static void test_float_elements(void **state) {
    (void)state;
    /* 2x1 float32, big-endian: 1.5 = 0x3FC00000, -2 = 0xC0000000 */
    const unsigned char b[] = {0, 0, 0x0D, 2, 0, 0, 0, 2, 0, 0, 0, 1,
                               0x3F, 0xC0, 0, 0, 0xC0, 0, 0, 0};
    write_file("f32", b, sizeof b, 1);
    ol_idx x;
    ol_error err = {{0}};
    assert_int_equal(ol_idx_read(path_of("f32"), &x, &err), 0);
    assert_int_equal(x.type, 0x0D);
    assert_int_equal(x.count, 2);
    assert_true(((double *)x.data)[0] == 1.5 && ((double *)x.data)[1] == -2.0);
    ol_idx_free(&x);
}

/* Writes b (length n, raw or gzip) as "bad", reads it as images with the
 * good labels, and expects an error containing each of the strings. */
static void expect_bad(const unsigned char *b, size_t n, int gz, const char *s1, const char *s2) {
    write_file("bad", b, n, gz);
    ol_error err = {{0}};
    ol_dataset *ds = ol_read_idx(path_of("bad"), path_of("lb"), 0, &err);
    assert_null(ds);
    if (!strstr(err.msg, s1) || !strstr(err.msg, s2)) fail_msg("unexpected message: %s", err.msg);
    assert_non_null(strstr(err.msg, dir)); /* names the file */
}

static void test_corrupt(void **state) {
    (void)state;
    unsigned char b[sizeof images + 4];
    write_file("lb", labels, sizeof labels, 0);
    for (int gz = 0; gz <= 1; gz++) {
        memcpy(b, images, sizeof images);
        b[0] = 0x1F; /* magic */
        expect_bad(b, sizeof images, gz, "at byte 0", "bad magic number 0x1f000803");
        memcpy(b, images, sizeof images);
        b[2] = 0x07; /* element type */
        expect_bad(b, sizeof images, gz, "at byte 0", "unknown element type");
        /* truncated data: 3 bytes short; the data end at byte 28 */
        expect_bad(images, sizeof images - 3, gz, "at byte 25", "truncated");
        /* truncated header */
        expect_bad(images, 10, gz, "at byte 10", "truncated header");
        expect_bad(images, 2, gz, "at byte 2", "truncated header");
        /* trailing bytes after the promised data */
        memcpy(b, images, sizeof images);
        memset(b + sizeof images, 7, 4);
        expect_bad(b, sizeof images + 4, gz, "at byte 28", "");
        /* a header claiming 2^32-1 images: fails at the data's end, no huge allocation */
        memcpy(b, images, sizeof images);
        memset(b + 4, 0xFF, 4);
        expect_bad(b, sizeof images, gz, "truncated", "at byte 28");
    }
    /* 3 images, 2 labels */
    const unsigned char l2[] = {0, 0, 0x08, 1, 0, 0, 0, 2, 0, 1};
    write_file("lb9", l2, sizeof l2, 0);
    ol_error err = {{0}};
    assert_null(ol_read_idx(path_of("im"), path_of("lb9"), 0, &err));
    assert_non_null(strstr(err.msg, "count mismatch"));
    assert_non_null(strstr(err.msg, "3 images"));
    assert_non_null(strstr(err.msg, "2 labels"));
    /* label 9 of sample 2 at byte 9, with 3 classes */
    const unsigned char l3[] = {0, 0, 0x08, 1, 0, 0, 0, 3, 0, 9, 1};
    write_file("lb9", l3, sizeof l3, 0);
    assert_null(ol_read_idx(path_of("im"), path_of("lb9"), 3, &err));
    assert_non_null(strstr(err.msg, "at byte 9"));
    assert_non_null(strstr(err.msg, "out of range 0..2"));
    assert_non_null(strstr(err.msg, "lb9"));
    /* missing file */
    assert_null(ol_read_idx(path_of("nope"), path_of("lb"), 0, &err));
    assert_non_null(strstr(err.msg, "cannot open"));
    /* not gzip, not IDX: random text */
    const unsigned char txt[] = "hello, world\n";
    expect_bad(txt, sizeof txt - 1, 0, "at byte 0", "bad magic");
    /* a gzip stream cut in the middle */
    write_file("bad", images, sizeof images, 1);
    FILE *f = fopen(path_of("bad"), "rb");
    unsigned char z[256];
    size_t zn = fread(z, 1, sizeof z, f);
    fclose(f);
    expect_bad(z, zn - 12, 0, "", "at byte");
}

/* Labels as the file holds them: the largest class id (INT32_MAX - 1)
 * is read, INT32_MAX is too large and said so, a negative one too; a
 * negative class count is an error. */
static void test_label_range(void **state) {
    (void)state;
    const unsigned char im1[] = {0, 0, 0x08, 2, 0, 0, 0, 1, 0, 0, 0, 1, 7};
    write_file("im1", im1, sizeof im1, 0);
    unsigned char lb[12] = {0, 0, 0x0C, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xfe}; /* int32 2147483646 */
    write_file("lbmax", lb, sizeof lb, 0);
    ol_error err = {{0}};
    ol_dataset *ds = ol_read_idx(path_of("im1"), path_of("lbmax"), 0, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(ds->classes, 2147483647);
    assert_int_equal(ol_dataset_label(ds, 0), 2147483647);
    ol_dataset_free(ds);
    lb[11] = 0xff; /* 2147483647 */
    write_file("lbmax", lb, sizeof lb, 0);
    assert_null(ol_read_idx(path_of("im1"), path_of("lbmax"), 0, &err));
    assert_non_null(strstr(err.msg, "at byte 8: label 2147483647 of sample 1 is too large"));
    memset(lb + 8, 0xff, 4); /* -1 */
    write_file("lbmax", lb, sizeof lb, 0);
    assert_null(ol_read_idx(path_of("im1"), path_of("lbmax"), 0, &err));
    assert_non_null(strstr(err.msg, "label -1 of sample 1 is negative"));
    assert_null(ol_read_idx(path_of("im1"), path_of("lbmax"), 3, &err));
    assert_non_null(strstr(err.msg, "label -1 of sample 1 is out of range 0..2"));
    assert_null(ol_read_idx(path_of("im1"), NULL, -5, &err));
    assert_non_null(strstr(err.msg, "classes must be >= 0 (0: from the labels), got -5"));
}

/* A FIFO or a directory is refused at once (the alarm ends a reader that
 * would wait for a writer), as images and as labels. */
static void test_not_regular(void **state) {
    (void)state;
    write_file("im", images, sizeof images, 0);
    assert_int_equal(mkfifo(path_of("fifo"), 0600), 0);
    ol_error err = {{0}};
    ol_idx idx;
    alarm(20);
    assert_int_equal(ol_idx_read(path_of("fifo"), &idx, &err), -1);
    assert_non_null(strstr(err.msg, "fifo: not a regular file"));
    assert_null(ol_read_idx(path_of("im"), path_of("fifo"), 0, &err));
    assert_non_null(strstr(err.msg, "fifo: not a regular file"));
    assert_null(ol_read_idx(dir, NULL, 0, &err));
    assert_non_null(strstr(err.msg, "not a regular file"));
    alarm(0);
}

/* The real training set: 60000 images of 28x28 bytes, labels 1..10, the
 * first label equal to byte 8 of the decompressed labels file. */
static void test_fashion_mnist(void **state) {
    (void)state;
    const char *im = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    const char *lb = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
    if (access(im, R_OK) != 0 || access(lb, R_OK) != 0) skip();
    gzFile f = gzopen(lb, "rb");
    unsigned char head[9];
    assert_int_equal(gzread(f, head, 9), 9);
    gzclose(f);
    f = gzopen(im, "rb");
    unsigned char ihead[16 + 784];
    assert_int_equal(gzread(f, ihead, sizeof ihead), (int)sizeof ihead);
    gzclose(f);

    ol_error err = {{0}};
    ol_dataset *ds = ol_read_idx(im, lb, 10, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(ds->n, 60000);
    assert_int_equal(ds->d, 784);
    assert_int_equal(ds->classes, 10);
    assert_int_equal(ds->st->kind, OL_DS_U8);
    assert_int_equal(ol_dataset_label(ds, 0), head[8] + 1);
    int seen[11] = {0};
    for (int64_t i = 0; i < ds->n; i++) seen[ol_dataset_label(ds, i)]++;
    for (int c = 1; c <= 10; c++) assert_int_equal(seen[c], 6000); /* published: 6000 per class */
    float x[784];
    int64_t zero = 0;
    ol_dataset_gather(ds, &zero, 1, OL_F32, x, NULL);
    for (int k = 0; k < 784; k++) assert_true(fabsf(x[k] - ihead[16 + k] / 255.0f) < 1e-7f);
    ol_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_and_gzip),
        cmocka_unit_test(test_float_elements),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_label_range),
        cmocka_unit_test(test_not_regular),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
