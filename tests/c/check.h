/* The CHECK macro of the C-level tests (test_lm.c, test_cells.c): a failed condition
 * prints its file, line and text, and counts; finish() reports and gives the exit status. */
#ifndef FASTRNN_TESTS_CHECK_H
#define FASTRNN_TESTS_CHECK_H

#include <stdio.h>

static int failures = 0;
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                        \
        }                                                                      \
    } while (0)

/* Prints "all checks passed" or the number of failures; the process's exit status. */
static int finish(void) {
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    else
        printf("all checks passed\n");
    return failures != 0;
}

#endif /* FASTRNN_TESTS_CHECK_H */
