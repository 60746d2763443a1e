/*
 * main.c - kvplug-conformance: loads any kvplug plugin and checks the
 * contract of DESIGN.md §2-§3, one line per case:
 *   ok N - group/name
 *   not ok N - group/name: rule <rule>: observed X, expected Y
 *   ok N - group/name # SKIP reason
 * and a last line "N passed, N failed[, N skipped]". Exit 1 on any failure.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "vectors.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kvplug-conformance --plugin PATH.so [--config STR]\n"
               "         [--filter GLOB[,GLOB...]] [--list] [--vectors DIR]\n"
               "         [--timeout SECONDS]\n"
               "  --plugin   the plugin to check (default: $KVPLUG_PLUGIN)\n"
               "  --config   engine config string (default: empty)\n"
               "  --filter   run only cases whose group/name matches a glob\n"
               "  --list     print the case names and exit\n"
               "  --vectors  tensor header test vectors (default: next to the\n"
               "             binary, then the installed and source copies)\n"
               "  --timeout  per-case limit (default 60); a case that runs\n"
               "             longer fails\n");
}

static int matches(const char *filter, const char *full)
{
    if (filter == NULL)
        return 1;
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", filter);
    char *save = NULL;
    for (char *g = strtok_r(buf, ",", &save); g != NULL;
         g = strtok_r(NULL, ",", &save))
        if (fnmatch(g, full, 0) == 0)
            return 1;
    return 0;
}

static const struct conf_group *const static_before[] = {
    &conf_group_abi, &conf_group_registration, &conf_group_put, &conf_group_get,
    &conf_group_batch};
static const struct conf_group *const static_after[] = {
    &conf_group_tp_put, &conf_group_tp_get, &conf_group_concurrency,
    &conf_group_v1_1};

struct case_list {
    const struct conf_case **v;
    size_t n, cap;
};

static void list_add(struct case_list *l, const struct conf_case *c)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        if (l->v == NULL) {
            fprintf(stderr, "kvplug-conformance: out of memory\n");
            exit(2);
        }
    }
    l->v[l->n++] = c;
}

static void list_groups(struct case_list *l, const struct conf_group *const *g,
                        size_t ng)
{
    for (size_t i = 0; i < ng; i++)
        for (size_t j = 0; j < g[i]->count; j++)
            list_add(l, &g[i]->cases[j]);
}

static void print_outcome(unsigned n, const struct conf_case *tc,
                          const struct conf_outcome *o)
{
    if (o->state == CONF_PASS)
        printf("ok %u - %s/%s\n", n, tc->group, tc->name);
    else if (o->state == CONF_SKIP)
        printf("ok %u - %s/%s # SKIP %s\n", n, tc->group, tc->name, o->msg);
    else {
        printf("not ok %u - %s/%s: rule %s: %s\n", n, tc->group, tc->name,
               tc->rule, o->msg);
        unsigned first =
            o->log_count > CONF_LOG_KEEP ? o->log_count - CONF_LOG_KEEP : 0;
        for (unsigned i = first; i < o->log_count; i++)
            printf("#   plugin log: %s\n", o->log[i % CONF_LOG_KEEP]);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct conf_options opt = {.plugin_path = getenv("KVPLUG_PLUGIN"),
                               .config = "",
                               .vectors_dir = NULL,
                               .timeout_s = 60};
    const char *filter = NULL;
    int list_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--list") == 0) {
            list_only = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "kvplug-conformance: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--plugin") == 0)
            opt.plugin_path = v;
        else if (strcmp(a, "--config") == 0)
            opt.config = v;
        else if (strcmp(a, "--filter") == 0)
            filter = v;
        else if (strcmp(a, "--vectors") == 0)
            opt.vectors_dir = v;
        else if (strcmp(a, "--timeout") == 0 && atoi(v) > 0)
            opt.timeout_s = (unsigned)atoi(v);
        else {
            fprintf(stderr, "kvplug-conformance: unknown option %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
        i++;
    }

    struct case_list all = {0};
    list_groups(&all, static_before,
                sizeof(static_before) / sizeof(static_before[0]));
    const struct conf_case *vec_cases = NULL;
    size_t vec_n = conf_vector_cases(opt.vectors_dir, argv[0], &vec_cases);
    for (size_t i = 0; i < vec_n; i++)
        list_add(&all, &vec_cases[i]);
    list_groups(&all, static_after,
                sizeof(static_after) / sizeof(static_after[0]));

    struct case_list run = {0};
    for (size_t i = 0; i < all.n; i++) {
        char full[256];
        snprintf(full, sizeof(full), "%s/%s", all.v[i]->group, all.v[i]->name);
        if (matches(filter, full))
            list_add(&run, all.v[i]);
    }
    if (list_only) {
        for (size_t i = 0; i < run.n; i++)
            printf("%s/%s\n", run.v[i]->group, run.v[i]->name);
        return 0;
    }
    if (opt.plugin_path == NULL || opt.plugin_path[0] == '\0') {
        fprintf(stderr, "kvplug-conformance: no plugin: give --plugin PATH "
                        "or set KVPLUG_PLUGIN\n");
        usage(stderr);
        return 2;
    }
    if (run.n == 0) {
        fprintf(stderr, "kvplug-conformance: no case matches --filter %s\n",
                filter);
        return 2;
    }

    printf("1..%zu\n# plugin %s, config \"%s\"\n", run.n, opt.plugin_path,
           opt.config);
    unsigned passed = 0, failed = 0, skipped = 0;
    struct conf_outcome *o = malloc(sizeof(*o));
    if (o == NULL)
        return 2;
    for (size_t i = 0; i < run.n; i++) {
        conf_run_case(run.v[i], &opt, (unsigned)(i + 1), o);
        print_outcome((unsigned)(i + 1), run.v[i], o);
        if (o->state == CONF_PASS)
            passed++;
        else if (o->state == CONF_SKIP)
            skipped++;
        else
            failed++;
    }
    if (skipped)
        printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
    else
        printf("%u passed, %u failed\n", passed, failed);
    free(o);
    free(run.v);
    free(all.v);
    conf_vector_cases_free(vec_cases, vec_n);
    return failed ? 1 : 0;
}
