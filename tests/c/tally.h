/* What the C-level drivers share: the tally (check() counts a result and prints one line
 * for a failure; a driver ends with printf("%d passed, %d failed\n", passed, failed)) and
 * the dims that every kernel refuses. */
#ifndef FASTRNN_TESTS_TALLY_H
#define FASTRNN_TESTS_TALLY_H

#include <stdint.h>
#include <stdio.h>

/* Dims every kernel refuses (an initializer list): a size below 1, and T*B or D beyond
 * the BLAS's int. */
#define BAD_DIMS_OF_EVERY_KERNEL                                           \
    {0, 1, 1, 1}, {1, 0, 1, 1}, {1, 1, 0, 1}, {1, 1, 1, 0}, {-1, 1, 1, 1}, \
        {INT64_C(1) << 31, 2, 1, 1}, {1, 1, INT64_C(1) << 32, 1}

static int passed = 0, failed = 0;

static void check(int ok, const char *what, const char *context) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        printf("FAIL %s [%s]\n", what, context);
    }
}

#endif /* FASTRNN_TESTS_TALLY_H */
