/* ol_comm_load: the shared object is looked for relative to the directory
 * of the running program (here the test, in BUILD/tests, so the build's
 * optlua-dist.so is "../optlua-dist.so"), along a ':'-separated list tried
 * in order, and a failure names the first path tried. The entry point is
 * found but not called (it would start a world). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/comm.h"

#define DIST "../optlua-dist.so"
#define ENTRY "ol_dist_world" /* OL_DIST_ENTRY of dist/dist.h, a layer above */

/* The directory of this test program, with its final '/'. */
static void own_dir(char *buf, size_t len) {
    char *self = realpath("/proc/self/exe", NULL);
    assert_non_null(self);
    *strrchr(self, '/') = '\0';
    snprintf(buf, len, "%s/", self);
    free(self);
}

static void test_single_name(void **state) {
    (void)state;
    ol_error err = {{0}};
    ol_comm_entry entry = NULL;
    if (ol_comm_load(DIST, ENTRY, &entry, &err)) fail_msg("%s", err.msg);
    assert_non_null(entry);
}

static void test_list_tried_in_order(void **state) {
    (void)state;
    ol_error err = {{0}};
    ol_comm_entry entry = NULL;
    if (ol_comm_load("no_such_object.so:" DIST, ENTRY, &entry, &err)) fail_msg("%s", err.msg);
    assert_non_null(entry);
    entry = NULL;
    if (ol_comm_load(DIST ":no_such_object.so", ENTRY, &entry, &err)) fail_msg("%s", err.msg);
    assert_non_null(entry);
}

static void test_failure_names_first_path(void **state) {
    (void)state;
    char dir[4096], want[4200];
    own_dir(dir, sizeof dir);
    ol_error err = {{0}};
    ol_comm_entry entry = NULL;
    assert_int_equal(ol_comm_load("first_missing.so:second_missing.so", ENTRY, &entry, &err), -1);
    snprintf(want, sizeof want, "cannot load %sfirst_missing.so: ", dir);
    if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("error \"%s\", want \"%s...\"", err.msg, want);
    assert_null(entry);
    /* The second object opens but has no such entry point: the error
     * names it. */
    assert_int_equal(ol_comm_load("first_missing.so:" DIST, "no_such_symbol", &entry, &err), -1);
    snprintf(want, sizeof want, "cannot load %s" DIST ": ", dir);
    if (strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, "no_such_symbol"))
        fail_msg("error \"%s\", want \"%s...no_such_symbol...\"", err.msg, want);
    assert_null(entry);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_name),
        cmocka_unit_test(test_list_tried_in_order),
        cmocka_unit_test(test_failure_names_first_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
