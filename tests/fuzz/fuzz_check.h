/* fuzz_check.h - CHECK(cond): an invariant of a fuzz target; a violation
 * traps, which libFuzzer reports as a crash with the input that caused it. */
#ifndef KVP_FUZZ_CHECK_H
#define KVP_FUZZ_CHECK_H

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            __builtin_trap();                                                  \
    } while (0)

#endif /* KVP_FUZZ_CHECK_H */
