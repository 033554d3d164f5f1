/* CSV reader: small files written here, values checked by hand, and each
 * kind of bad input reported with its line and column; fields of any
 * length, spellings strtod takes that are not decimal numbers, a byte
 * order mark, files that are not regular. */
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

#include "data/readers.h"

static char dir[64], file[128];

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/ol_csv_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/t.csv", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(file);
    rmdir(dir);
    return 0;
}

static void put(const char *text) {
    FILE *f = fopen(file, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static ol_csv_opts defaults(void) {
    return (ol_csv_opts){.header = -1, .label_index = -1, .label_base = -1};
}

static void expect_row(const ol_dataset *ds, int64_t i, const double *want, int32_t label) {
    double x[8];
    ol_dataset_gather(ds, &i, 1, OL_F64, x, NULL);
    for (int64_t j = 0; j < ds->d; j++) assert_true(x[j] == want[j]);
    assert_int_equal(ol_dataset_label(ds, i), label);
}

static void test_header_and_label_name(void **state) {
    (void)state;
    put("a,label,b\n1,0,2\n3.5,1,-4\n\n5,2,6e1\n");
    ol_csv_opts o = defaults();
    o.label_name = "label";
    ol_error err = {{0}};
    ol_dataset *ds = ol_read_csv(file, &o, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(ds->n, 3);
    assert_int_equal(ds->d, 2);
    assert_int_equal(ds->classes, 3); /* 0-based in the file: 0, 1, 2 */
    expect_row(ds, 0, (double[]){1, 2}, 1);
    expect_row(ds, 1, (double[]){3.5, -4}, 2);
    expect_row(ds, 2, (double[]){5, 60}, 3);
    ol_dataset_free(ds);
}

static void test_no_header_label_index(void **state) {
    (void)state;
    /* no header (auto: every field numeric), label in column 1, 1-based ids */
    put("2,0.5,\"1.25\"\n1,-0.5,2\r\n2, 3 ,4");
    ol_csv_opts o = defaults();
    o.label_index = 1;
    ol_error err = {{0}};
    ol_dataset *ds = ol_read_csv(file, &o, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(ds->n, 3);
    assert_int_equal(ds->d, 2);
    assert_int_equal(ds->classes, 2);
    expect_row(ds, 0, (double[]){0.5, 1.25}, 2);
    expect_row(ds, 1, (double[]){-0.5, 2}, 1);
    expect_row(ds, 2, (double[]){3, 4}, 2);
    ol_dataset_free(ds);
}

static void test_delimiter_and_unlabelled(void **state) {
    (void)state;
    put("x;y;z\n1;2;3\n4;5;6\n");
    ol_csv_opts o = defaults();
    o.delimiter = ';';
    o.label_index = 0;
    o.header = 1;
    ol_error err = {{0}};
    ol_dataset *ds = ol_read_csv(file, &o, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(ds->n, 2);
    assert_int_equal(ds->d, 3);
    assert_int_equal(ds->classes, 0);
    expect_row(ds, 1, (double[]){4, 5, 6}, 0);
    ol_dataset_free(ds);
}

static void expect_error(const char *text, ol_csv_opts o, const char *s1, const char *s2) {
    put(text);
    ol_error err = {{0}};
    ol_dataset *ds = ol_read_csv(file, &o, &err);
    if (ds) {
        ol_dataset_free(ds);
        fail_msg("no error for %s", text);
    }
    if (!strstr(err.msg, s1) || !strstr(err.msg, s2) || !strstr(err.msg, "t.csv"))
        fail_msg("unexpected message: %s", err.msg);
}

static void test_errors(void **state) {
    (void)state;
    ol_csv_opts o = defaults();
    expect_error("a,b\n1,2\n3,x\n", o, "line 3, column 2", "'x' is not a number");
    expect_error("a,b\n1,2\n\n3,\n", o, "line 4, column 2", "is not a number"); /* empty */
    expect_error("a,b\n1,2\n3,4,5\n", o, "line 3", "3 fields, expected 2");
    expect_error("a,b\n1,2\n3\n", o, "line 3", "1 fields, expected 2");
    expect_error("a,b\n1,2.5\n", o, "line 2, column 2", "label 2.5 is not a class id");
    expect_error("a,b\n1,-1\n", o, "line 2, column 2", "label -1");
    ol_csv_opts oc = defaults();
    oc.classes = 2;
    oc.label_base = 0;
    expect_error("a,b\n1,1\n2,5\n", oc, "line 3, column 2", "out of range 0..1");
    oc.label_base = -1; /* auto base: checked after reading, still located */
    expect_error("a,b\n1,0\n2,1\n\n3,2\n", oc, "line 5, column 2", "out of range 0..1");
    ol_csv_opts on = defaults();
    on.label_name = "nope";
    expect_error("a,b\n1,2\n", on, "line 1", "no column named 'nope'");
    on.header = 0;
    expect_error("1,2\n", on, "line 1", "needs a header");
    ol_csv_opts oh = defaults();
    oh.header = 0;
    expect_error("a,b\n1,2\n", oh, "line 1, column 1", "'a' is not a number");
    ol_csv_opts oi = defaults();
    oi.label_index = 5;
    expect_error("1,2\n", oi, "line 1", "label column 5");
    expect_error("a,b\n1,\"2\n", o, "line 2", "unterminated");
    expect_error("a,b\n1,2\n1,\"2\"x\n", o, "line 3", "cannot parse"); /* text after a quote */
    ol_csv_opts o1 = defaults();
    o1.label_base = 1;
    expect_error("a,b\n1,1\n2,0\n", o1, "line 3, column 2", "label 0 is not a class id");
    expect_error("", o, "t.csv", "no rows");
    ol_error err = {{0}};
    assert_null(ol_read_csv("/nonexistent/t.csv", &o, &err));
    assert_non_null(strstr(err.msg, "cannot open"));
}

/* A field is read whole, whatever its length: a long number is the number
 * it spells, and junk after a long prefix is refused. */
static void test_long_fields(void **state) {
    (void)state;
    char text[1024], digits[400];
    /* 5 followed by 149 zeros, with 0.5 in the next column: 5e149, in
     * the first row (kept as text until the header is decided) and in
     * the second */
    memset(digits, '0', 149);
    digits[149] = 0;
    snprintf(text, sizeof text, "5%s,0.5\n1,5%s\n", digits, digits);
    put(text);
    ol_csv_opts o = defaults();
    o.label_index = 0;
    ol_error err = {{0}};
    ol_dataset *ds = ol_read_csv(file, &o, &err);
    if (!ds) fail_msg("%s", err.msg);
    expect_row(ds, 0, (double[]){5e149, 0.5}, 0);
    expect_row(ds, 1, (double[]){1, 5e149}, 0);
    ol_dataset_free(ds);
    /* 1e200 written out in full */
    snprintf(text, sizeof text, "1,2\n1%s%s,2\n", digits,
             "000000000000000000000000000000000000000000000000000"); /* 149 + 51 zeros */
    put(text);
    ds = ol_read_csv(file, &o, &err);
    if (!ds) fail_msg("%s", err.msg);
    expect_row(ds, 1, (double[]){1e200, 2}, 0);
    ol_dataset_free(ds);
    /* a long label: 3 after 140 zeros and a point */
    memset(digits, '0', 140);
    digits[140] = 0;
    snprintf(text, sizeof text, "x,y\n1,1\n1,%s3.0\n", digits);
    put(text);
    o = defaults();
    ds = ol_read_csv(file, &o, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(ds->classes, 3);
    ol_dataset_free(ds);
    /* junk after 150 characters */
    snprintf(text, sizeof text, "1,2\n1,5%sabc\n", digits);
    ol_csv_opts oh = defaults();
    oh.header = 0;
    expect_error(text, oh, "line 2, column 2", "is not a number");
    char spaces[200];
    memset(spaces, ' ', 130);
    spaces[130] = 0;
    snprintf(text, sizeof text, "1,2\n1,7%sjunk\n", spaces);
    expect_error(text, oh, "line 2, column 2", "'7        ");
    expect_error(text, oh, "line 2, column 2", "'... is not a number");
    /* blanks alone around a number are fine */
    snprintf(text, sizeof text, "1,%s7%s\n", spaces, spaces);
    put(text);
    ds = ol_read_csv(file, &oh, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(ol_dataset_label(ds, 0), 7);
    ol_dataset_free(ds);
}

/* Only decimal numbers: strtod's hexadecimal, inf, nan and infinity, and
 * numbers beyond a double, are refused with their position. */
static void test_not_decimal(void **state) {
    (void)state;
    ol_csv_opts o = defaults();
    o.header = 0;
    static const char *const bad[] = {"0x10", "0X1p3", "inf", "-INF", "nan", "NaN(1)", "infinity",
                                      "1e", "1e+", ".", "-", "+.e1", "1.2.3", "1,5e1x", "1 2"};
    char text[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "1,\"%s\"\n", bad[i]);
        expect_error(text, o, "line 1, column 2", "is not a number");
    }
    expect_error("1,1e400\n", o, "line 1, column 2", "'1e400' is beyond the range of a double");
    expect_error("1,-1e999\n", o, "line 1, column 2", "beyond the range of a double");
    expect_error("1e400,1\n", o, "line 1, column 1", "beyond the range of a double");
    /* what is a number: signs, points on either side, exponents */
    put("+1.5,-.25,3.,1E2,-0e-0,2\n");
    o.label_index = 0;
    ol_error err = {{0}};
    ol_dataset *ds = ol_read_csv(file, &o, &err);
    if (!ds) fail_msg("%s", err.msg);
    expect_row(ds, 0, (double[]){1.5, -0.25, 3, 100, 0, 2}, 0);
    ol_dataset_free(ds);
    /* a zero byte inside a field */
    FILE *f = fopen(file, "wb");
    fwrite("1,2\n3,4\0x\n", 1, 10, f);
    fclose(f);
    o = defaults();
    err.msg[0] = 0;
    assert_null(ol_read_csv(file, &o, &err));
    assert_non_null(strstr(err.msg, "line 2, column 2: a zero byte"));
}

/* A UTF-8 byte order mark before the first field is skipped: a file
 * without a header keeps its first row, a header its first name. */
static void test_byte_order_mark(void **state) {
    (void)state;
    put("\xEF\xBB\xBF" "1,2,0\n3,4,1\n");
    ol_csv_opts o = defaults();
    ol_error err = {{0}};
    ol_dataset *ds = ol_read_csv(file, &o, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(ds->n, 2);
    expect_row(ds, 0, (double[]){1, 2}, 1);
    ol_dataset_free(ds);
    put("\xEF\xBB\xBF" "label,b\n0,2\n1,4\n");
    o.label_name = "label";
    ds = ol_read_csv(file, &o, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(ds->n, 2);
    expect_row(ds, 1, (double[]){4}, 2);
    ol_dataset_free(ds);
    /* only at the start of the file */
    o = defaults();
    o.header = 0;
    expect_error("1,2\n\xEF\xBB\xBF" "3,4\n", o, "line 2, column 1", "is not a number");
}

/* A FIFO or a directory is refused at once (the alarm ends a reader that
 * would wait for a writer); a negative class count is an error. */
static void test_not_regular(void **state) {
    (void)state;
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo.csv", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    ol_csv_opts o = defaults();
    ol_error err = {{0}};
    alarm(20);
    assert_null(ol_read_csv(fifo, &o, &err));
    assert_non_null(strstr(err.msg, "fifo.csv: not a regular file"));
    assert_null(ol_read_csv(dir, &o, &err));
    assert_non_null(strstr(err.msg, "not a regular file"));
    alarm(0);
    unlink(fifo);
    put("1,0\n");
    o.classes = -5;
    assert_null(ol_read_csv(file, &o, &err));
    assert_non_null(strstr(err.msg, "classes must be >= 0"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_label_name),
        cmocka_unit_test(test_no_header_label_index),
        cmocka_unit_test(test_delimiter_and_unlabelled),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long_fields),
        cmocka_unit_test(test_not_decimal),
        cmocka_unit_test(test_byte_order_mark),
        cmocka_unit_test(test_not_regular),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
