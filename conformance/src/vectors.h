/* vectors.h - the tensor-header group: one case per line of
 * vectors/index.txt (a data file per vector, see docs/conformance.md). */
#ifndef CONF_VECTORS_H
#define CONF_VECTORS_H

#include <stddef.h>

#include "conf.h"

/* Finds the vectors directory (--vectors, $KVPLUG_CONFORMANCE_VECTORS,
 * next to the binary, installed, source tree) and builds one case per
 * index line into *cases (release with conf_vector_cases_free). When the
 * index cannot be read, returns one case that fails saying why. */
size_t conf_vector_cases(const char *cli_dir, const char *argv0,
                         const struct conf_case **cases);

/* Frees what conf_vector_cases returned (the static "missing" case too). */
void conf_vector_cases_free(const struct conf_case *cases, size_t n);

#endif /* CONF_VECTORS_H */
