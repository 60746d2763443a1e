/* vectors.c - loads the tensor header test vectors and checks each one
 * through put_tensor_with_tp_from: an object breaking a header rule must be
 * refused with KVP_ERR_INVALID and leave nothing stored; a valid one must be
 * stored (tp_size <= 1: unchanged). */
#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensor_obj.h"
#include "vectors.h"

struct conf_vector {
    char name[64];
    char path[PATH_MAX + 160];
    int32_t expect;
    int32_t tp_size;
    int32_t split_dim;
    char rule[256];
    char case_name[96];
};

static int32_t status_by_name(const char *s, int *ok)
{
    *ok = 1;
#define CONF_STATUS_PARSE_(name, value, text)                                  \
    if (strcmp(s, #name) == 0)                                                 \
        return value;
    KVP_STATUS_LIST(CONF_STATUS_PARSE_)
#undef CONF_STATUS_PARSE_
    *ok = 0;
    return 0;
}

static int dir_has_index(const char *dir)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/index.txt", dir);
    return access(p, R_OK) == 0;
}

static const char *find_dir(const char *cli_dir, const char *argv0, char *buf,
                            size_t cap)
{
    if (cli_dir != NULL)
        return cli_dir;
    const char *env = getenv("KVPLUG_CONFORMANCE_VECTORS");
    if (env != NULL && env[0] != '\0')
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(exe, sizeof(exe), "%s", argv0);
        n = (ssize_t)strlen(exe);
    }
    exe[n] = '\0';
    char *bindir = dirname(exe);
    const char *rel[] = {"/conformance-vectors",
                         "/../share/kvplug/conformance/vectors"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        snprintf(buf, cap, "%s%s", bindir, rel[i]);
        if (dir_has_index(buf))
            return buf;
    }
    if (dir_has_index(CONF_VECTORS_INSTALL_DIR))
        return CONF_VECTORS_INSTALL_DIR;
    return CONF_VECTORS_SRC_DIR;
}

static void vector_case(struct conf_ctx *ctx);
static void vectors_missing_case(struct conf_ctx *ctx);

static char missing_reason[PATH_MAX + 128];

static int parse_line(char *line, const char *dir, struct conf_vector *v)
{
    char file[128], expect[64];
    int consumed = 0;
    if (sscanf(line, "%63s %127s %63s %d %d %n", v->name, file, expect,
               &v->tp_size, &v->split_dim, &consumed) != 5)
        return -1;
    int ok;
    v->expect = status_by_name(expect, &ok);
    if (!ok)
        return -1;
    char *rule = line + consumed;
    rule[strcspn(rule, "\r\n")] = '\0';
    snprintf(v->rule, sizeof(v->rule), "%s", rule);
    snprintf(v->path, sizeof(v->path), "%s/%s", dir, file);
    snprintf(v->case_name, sizeof(v->case_name), "%s", v->name);
    return 0;
}

size_t conf_vector_cases(const char *cli_dir, const char *argv0,
                         const struct conf_case **cases)
{
    static struct conf_case missing = {
        "tensor-header",
        "vectors-present",
        "the header test vectors are readable (vectors/index.txt)",
        0,
        0,
        vectors_missing_case,
        missing_reason};
    char buf[PATH_MAX];
    const char *dir = find_dir(cli_dir, argv0, buf, sizeof(buf));
    char index[PATH_MAX + 16];
    snprintf(index, sizeof(index), "%s/index.txt", dir);
    FILE *f = fopen(index, "r");
    if (f == NULL) {
        snprintf(missing_reason, sizeof(missing_reason),
                 "observed %s unreadable (%s), expected the vectors index "
                 "(give --vectors DIR)",
                 index, strerror(errno));
        *cases = &missing;
        return 1;
    }
    size_t n = 0, cap = 0;
    struct conf_case *out = NULL;
    char line[1024];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        struct conf_vector *v = calloc(1, sizeof(*v));
        if (v == NULL || parse_line(p, dir, v) != 0) {
            fprintf(stderr,
                    "kvplug-conformance: %s:%u: malformed vector "
                    "line, ignored\n",
                    index, lineno);
            free(v);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            struct conf_case *grown = realloc(out, ncap * sizeof(*out));
            if (grown == NULL) {
                free(v);
                break; /* run what was read; the count shows the loss */
            }
            out = grown;
            cap = ncap;
        }
        out[n++] = (struct conf_case){
            "tensor-header", v->case_name, v->rule, CONF_NEED_ENGINE,
            KVP_CAP_TP,      vector_case,  v};
    }
    fclose(f);
    *cases = out;
    return n;
}

void conf_vector_cases_free(const struct conf_case *cases, size_t n)
{
    if (cases == NULL || cases->fn == vectors_missing_case)
        return; /* the static "missing" case */
    for (size_t i = 0; i < n; i++)
        free((void *)cases[i].arg);
    free((void *)cases);
}

static void vectors_missing_case(struct conf_ctx *ctx)
{
    conf_fail(ctx, "%s", (const char *)ctx->tc->arg);
}

static uint8_t *read_file(struct conf_ctx *ctx, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        conf_fail(ctx, "observed vector %s unreadable (%s), expected a file",
                  path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = sz >= 0 ? conf_alloc(ctx, (size_t)sz + 1) : NULL;
    if (p != NULL && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        conf_fail(ctx, "observed a short read of %s (suite)", path);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)(sz < 0 ? 0 : sz);
    return p;
}

static void vector_case(struct conf_ctx *ctx)
{
    const struct conf_vector *v = ctx->tc->arg;
    size_t len;
    uint8_t *obj = read_file(ctx, v->path, &len);
    if (obj == NULL)
        return;
    char key[256], shard[300], what[512];
    conf_key(ctx, key, sizeof(key), "vec");
    snprintf(what, sizeof(what),
             "put_tensor_with_tp_from(%s, %zu bytes, tp_size %d, "
             "split_dim %d)",
             v->name, len, v->tp_size, v->split_dim);
    int32_t st = ctx->ops->put_tensor_with_tp_from(
        ctx->engine, key, obj, len, 0, v->tp_size, v->split_dim, NULL);
    CONF_EXPECT(ctx, what, st, v->expect);
    if (v->expect != KVP_OK) {
        /* a refused object leaves nothing behind, under any key */
        CONF_EXPECT(ctx, "exists(key) after the refused put",
                    ctx->ops->exists(ctx->engine, key), 0);
        snprintf(shard, sizeof(shard), "%s_tp_0", key);
        CONF_EXPECT(ctx, "exists(<key>_tp_0) after the refused put",
                    ctx->ops->exists(ctx->engine, shard), 0);
        return;
    }
    if (v->tp_size > 1)
        return; /* shard contents are the tp-put group's job */
    uint8_t *back = conf_alloc(ctx, len + 64);
    if (back == NULL)
        return;
    CONF_EXPECT(ctx, "get_into(key) of the valid object",
                ctx->ops->get_into(ctx->engine, key, back, len + 64),
                (int64_t)len);
    int64_t d = conf_memdiff(back, obj, len);
    if (d >= 0)
        conf_fail(ctx,
                  "observed the stored object differing at byte %lld, "
                  "expected it unchanged",
                  (long long)d);
}
