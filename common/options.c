/* options.c - the table-driven option parser and the size parser
 * (options.h). */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "units.h"

int kvp_parse_size(const char *s, uint64_t *out, const char **why)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", UINT64_C(1) << 10},
        {"kib", UINT64_C(1) << 10},
        {"kb", UINT64_C(1000)},
        {"m", UINT64_C(1) << 20},
        {"mib", UINT64_C(1) << 20},
        {"mb", UINT64_C(1000000)},
        {"g", UINT64_C(1) << 30},
        {"gib", UINT64_C(1) << 30},
        {"gb", UINT64_C(1000000000)},
        {"t", UINT64_C(1) << 40},
        {"tib", UINT64_C(1) << 40},
        {"tb", UINT64_C(1000000000000)},
    };
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    if (s == NULL || !isdigit((unsigned char)s[0])) {
        *why = "not a size (a number, then optionally B, KiB, MiB, GiB, "
               "TiB, KB, MB, GB or TB)";
        return -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0) {
        *why = "out of range";
        return -1;
    }
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].unit) != 0)
            continue;
        if (v > UINT64_MAX / units[i].mul) {
            *why = "out of range";
            return -1;
        }
        *out = (uint64_t)v * units[i].mul;
        return 0;
    }
    *why = "unknown unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)";
    return -1;
}

void kvp_opt_label(const char *name, enum kvp_opt_style style, char *buf,
                   size_t cap)
{
    if (cap == 0)
        return;
    if (style == KVP_OPT_KEYS) {
        snprintf(buf, cap, "%s", name);
        return;
    }
    snprintf(buf, cap, "--%s", name);
    for (char *p = buf + 2; *p != '\0'; p++) {
        if (*p == '_')
            *p = '-';
    }
}

static int offered(const struct kvp_opt *o, enum kvp_opt_style style)
{
    return !(o->flags &
             (style == KVP_OPT_FLAGS ? KVP_OPT_NO_CLI : KVP_OPT_NO_CFG));
}

const struct kvp_opt *kvp_opt_find(const struct kvp_opt *t, size_t n,
                                   const char *key)
{
    for (size_t i = 0; t != NULL && i < n; i++) {
        if (strcmp(t[i].name, key) == 0)
            return &t[i];
    }
    return NULL;
}

/* Strict decimal integer in [lo, hi]; -1 with *why. */
static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out,
                     const char **why)
{
    *why = "not an integer";
    if (s[0] == '\0' || isspace((unsigned char)s[0]))
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0')
        return -1;
    if (errno != 0 || v < lo || v > hi) {
        *why = "out of range";
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int32_t *out)
{
    static const char *const words[] = {"0", "false", "no",  "off",
                                        "1", "true",  "yes", "on"};
    for (size_t i = 0; i < 8; i++) {
        if (strcasecmp(s, words[i]) == 0) {
            *out = i >= 4;
            return 0;
        }
    }
    return -1;
}

/* Parses value for o into field; -1 with *why. */
static int opt_parse(const struct kvp_opt *o, const char *value, void *field,
                     const char **why)
{
    int64_t n = 0;
    int32_t i32 = 0;
    switch (o->type) {
    case KVP_OPT_STR: {
        size_t len = strlen(value);
        if ((o->flags & KVP_OPT_NONEMPTY) && len == 0) {
            *why = "must not be empty";
            return -1;
        }
        if (len >= o->size) {
            *why = "too long";
            return -1;
        }
        memcpy(field, value, len + 1);
        return 0;
    }
    case KVP_OPT_INT:
    case KVP_OPT_UINT:
        if (parse_int(value, o->min, o->max, &n, why) != 0)
            return -1;
        if (o->type == KVP_OPT_INT) {
            i32 = (int32_t)n;
            memcpy(field, &i32, sizeof(i32));
        } else {
            uint32_t u32 = (uint32_t)n;
            memcpy(field, &u32, sizeof(u32));
        }
        return 0;
    case KVP_OPT_SIZE: {
        uint64_t v;
        if (kvp_parse_size(value, &v, why) != 0)
            return -1;
        if (v < (uint64_t)o->min || (o->max > 0 && v > (uint64_t)o->max)) {
            *why = "out of range";
            return -1;
        }
        memcpy(field, &v, sizeof(v));
        return 0;
    }
    case KVP_OPT_BOOL:
        if (parse_bool(value, &i32) != 0) {
            *why = "not a boolean";
            return -1;
        }
        memcpy(field, &i32, sizeof(i32));
        return 0;
    case KVP_OPT_LEVEL:
        i32 = kvp_log_level_parse(value);
        if (i32 < 0) {
            *why = "not a log level";
            return -1;
        }
        memcpy(field, &i32, sizeof(i32));
        return 0;
    case KVP_OPT_FLAG:
        if (value[0] != '\0') {
            *why = "takes no value";
            return -1;
        }
        i32 = 1;
        memcpy(field, &i32, sizeof(i32));
        return 0;
    case KVP_OPT_CUSTOM:
        *why = "bad value";
        return o->parse != NULL ? o->parse(value, field, o->size, why) : -1;
    }
    *why = "option of an unknown type";
    return -1;
}

int kvp_opt_set(const struct kvp_opt *o, const char *value, void *target,
                enum kvp_opt_style style, char *err, size_t cap)
{
    const char *why = "bad value";
    if (opt_parse(o, value, (char *)target + o->offset, &why) == 0)
        return 0;
    char label[80];
    kvp_opt_label(o->name, style, label, sizeof(label));
    snprintf(err, cap, "%s '%.128s': %s; accepted: %s", label, value, why,
             o->accepted != NULL ? o->accepted : "see the docs");
    return -1;
}

void kvp_opt_show(const struct kvp_opt *o, const void *target, char *buf,
                  size_t cap)
{
    const char *field = (const char *)target + o->offset;
    int32_t i32 = 0;
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    if (cap == 0)
        return;
    switch (o->type) {
    case KVP_OPT_STR:
        snprintf(buf, cap, "%s", field[0] != '\0' ? field : "(none)");
        return;
    case KVP_OPT_INT:
        memcpy(&i32, field, sizeof(i32));
        snprintf(buf, cap, "%d", (int)i32);
        return;
    case KVP_OPT_UINT:
        memcpy(&u32, field, sizeof(u32));
        snprintf(buf, cap, "%u", (unsigned)u32);
        return;
    case KVP_OPT_SIZE:
        memcpy(&u64, field, sizeof(u64));
        kvp_fmt_bytes(u64, buf, cap);
        return;
    case KVP_OPT_BOOL:
    case KVP_OPT_FLAG:
        memcpy(&i32, field, sizeof(i32));
        snprintf(buf, cap, "%s", i32 ? "true" : "false");
        return;
    case KVP_OPT_LEVEL:
        memcpy(&i32, field, sizeof(i32));
        snprintf(buf, cap, "%s", kvp_log_level_name(i32));
        return;
    case KVP_OPT_CUSTOM:
        if (o->show != NULL)
            o->show(field, o->size, buf, cap);
        else
            snprintf(buf, cap, "(set)");
        return;
    }
    snprintf(buf, cap, "?");
}

void kvp_opt_describe(const struct kvp_opt *t, size_t n, const void *target,
                      enum kvp_opt_style style, char *buf, size_t cap)
{
    size_t len = strnlen(buf, cap);
    for (size_t i = 0; t != NULL && i < n && len + 1 < cap; i++) {
        if (!offered(&t[i], style))
            continue;
        char label[80], value[4096];
        kvp_opt_label(t[i].name, style, label, sizeof(label));
        kvp_opt_show(&t[i], target, value, sizeof(value));
        int w = snprintf(buf + len, cap - len, "%s=%s; ", label, value);
        if (w < 0 || (size_t)w >= cap - len) {
            buf[cap - 1] = '\0';
            break;
        }
        len += (size_t)w;
    }
}

void kvp_opt_names(const struct kvp_opt *t, size_t n, enum kvp_opt_style style,
                   char *buf, size_t cap)
{
    size_t len = strnlen(buf, cap);
    for (size_t i = 0; t != NULL && i < n && len + 1 < cap; i++) {
        if (!offered(&t[i], style))
            continue;
        char label[80];
        kvp_opt_label(t[i].name, style, label, sizeof(label));
        int w = snprintf(buf + len, cap - len, "%s%s",
                         len > 0 && buf[len - 1] != ' ' ? ", " : "", label);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
}

void kvp_opt_usage(FILE *f, const struct kvp_opt *t, size_t n,
                   enum kvp_opt_style style)
{
    for (size_t i = 0; t != NULL && i < n; i++) {
        if (!offered(&t[i], style))
            continue;
        char label[80], left[128];
        kvp_opt_label(t[i].name, style, label, sizeof(label));
        if (t[i].type == KVP_OPT_FLAG || t[i].arg == NULL)
            snprintf(left, sizeof(left), "%s", label);
        else
            snprintf(left, sizeof(left), "%s%s%s", label,
                     style == KVP_OPT_FLAGS ? " " : "=", t[i].arg);
        fprintf(f, "  %-26s %s\n", left, t[i].help != NULL ? t[i].help : "");
    }
}

/* Splits "key=value" into key (copied into kbuf) and value. -1 without
 * '=' or with a key too long. */
static int split_kv(const char *kv, char *kbuf, size_t kcap, const char **value)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || (size_t)(eq - kv) >= kcap)
        return -1;
    memcpy(kbuf, kv, (size_t)(eq - kv));
    kbuf[eq - kv] = '\0';
    *value = eq + 1;
    return 0;
}

/* Scratch space for a dry run: the end of the table's last field. */
static size_t table_extent(const struct kvp_opt *t, size_t n)
{
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].offset + t[i].size > end)
            end = t[i].offset + t[i].size;
    }
    return end;
}

int kvp_opts_apply(const struct kvp_opt *t, size_t n, const char *const *kv,
                   uint32_t n_kv, void *target, char *err, size_t cap)
{
    for (uint32_t i = 0; i < n_kv; i++) {
        char key[64];
        const char *value;
        if (kv[i] == NULL || split_kv(kv[i], key, sizeof(key), &value) != 0) {
            snprintf(err, cap, "option '%.64s' is not key=value",
                     kv[i] != NULL ? kv[i] : "(null)");
            return -1;
        }
        const struct kvp_opt *o = kvp_opt_find(t, n, key);
        if (o == NULL || !offered(o, KVP_OPT_KEYS)) {
            char names[512] = "";
            kvp_opt_names(t, n, KVP_OPT_KEYS, names, sizeof(names));
            snprintf(err, cap, "unknown option '%s'; valid: %s", key,
                     names[0] != '\0' ? names : "(none)");
            return -1;
        }
        if (kvp_opt_set(o, value, target, KVP_OPT_KEYS, err, cap) != 0)
            return -1;
    }
    return 0;
}

/* ---- kvlist -------------------------------------------------------------- */

int kvp_key_valid(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > 63)
        return 0;
    int dots = 0;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (c == '.') {
            if (++dots > 1 || i == 0 || i + 1 == len)
                return 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* The entry of key: its offset in buf, or -1. */
static long kvlist_find(const struct kvp_kvlist *l, const char *key)
{
    size_t klen = strlen(key);
    size_t off = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        const char *e = l->buf + off;
        if (strncmp(e, key, klen) == 0 && e[klen] == '=')
            return (long)off;
        off += strlen(e) + 1;
    }
    return -1;
}

int kvp_kvlist_set(struct kvp_kvlist *l, const char *key, const char *value)
{
    long off = kvlist_find(l, key);
    if (off >= 0) { /* drop the old entry, keep the order of the others */
        size_t elen = strlen(l->buf + off) + 1;
        memmove(l->buf + off, l->buf + off + elen, l->used - off - elen);
        l->used -= (uint32_t)elen;
        memset(l->buf + l->used, 0, elen);
        l->n--;
    }
    size_t need = strlen(key) + 1 + strlen(value) + 1;
    if (l->n >= KVP_KVLIST_MAX || need > sizeof(l->buf) - l->used)
        return -1;
    snprintf(l->buf + l->used, need, "%s=%s", key, value);
    l->used += (uint32_t)need;
    l->n++;
    return 0;
}

const char *kvp_kvlist_get(const struct kvp_kvlist *l, const char *key)
{
    long off = kvlist_find(l, key);
    return off < 0 ? NULL : l->buf + off + strlen(key) + 1;
}

uint32_t kvp_kvlist_ptrs(const struct kvp_kvlist *l, const char **out)
{
    size_t off = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        out[i] = l->buf + off;
        off += strlen(out[i]) + 1;
    }
    return l->n;
}

/* ---- routing ---------------------------------------------------------------
 */

/* "unknown ...; valid: <core>; transport 'ucx' takes: a, b" into err. */
static void unknown_msg(const struct kvp_opt_module *mods, uint32_t n_mods,
                        const char *label, const char *module,
                        enum kvp_opt_style style, const char *core_names,
                        char *err, size_t cap)
{
    int w = snprintf(err, cap, "unknown %s '%s'",
                     style == KVP_OPT_FLAGS ? "argument" : "key", label);
    if (module != NULL && w >= 0 && (size_t)w < cap)
        w += snprintf(err + w, cap - (size_t)w, " of transport '%s'", module);
    if (w >= 0 && (size_t)w < cap && core_names != NULL && module == NULL)
        w += snprintf(err + w, cap - (size_t)w, "; valid: %s", core_names);
    for (uint32_t m = 0; m < n_mods && w >= 0 && (size_t)w < cap; m++) {
        if (module != NULL && strcmp(module, mods[m].name) != 0)
            continue;
        char names[512] = "";
        kvp_opt_names(mods[m].t, mods[m].n, style, names, sizeof(names));
        w += snprintf(err + w, cap - (size_t)w, "; transport '%s' takes: %s",
                      mods[m].name, names[0] != '\0' ? names : "(none)");
    }
    if (n_mods == 0 && w >= 0 && (size_t)w < cap)
        snprintf(err + w, cap - (size_t)w, "; no transport is in use");
}

int kvp_opts_route(const struct kvp_opt_module *mods, uint32_t n_mods,
                   const char *const *kv, uint32_t n_kv,
                   enum kvp_opt_style style, const char *core_names,
                   const char **out, uint32_t *n_out, uint32_t *n_skipped,
                   char *err, size_t cap)
{
    for (uint32_t m = 0; m < n_mods; m++)
        n_out[m] = 0;
    *n_skipped = 0;
    for (uint32_t i = 0; i < n_kv; i++) {
        char key[64], label[180];
        const char *value;
        if (split_kv(kv[i], key, sizeof(key), &value) != 0) {
            snprintf(err, cap, "'%.64s' is not key=value", kv[i]);
            return -1;
        }
        char *dot = strchr(key, '.');
        const char *module = NULL, *bare = key;
        if (dot != NULL) {
            *dot = '\0';
            module = key;
            bare = dot + 1;
        }
        int addressed = 0, taken = 0;
        for (uint32_t m = 0; m < n_mods; m++) {
            if (module != NULL && strcmp(module, mods[m].name) != 0)
                continue;
            addressed = 1;
            const struct kvp_opt *o = kvp_opt_find(mods[m].t, mods[m].n, bare);
            if (o == NULL || !offered(o, KVP_OPT_KEYS))
                continue;
            /* Dry run into scratch space: the module parses it again. */
            size_t ext = table_extent(mods[m].t, mods[m].n);
            void *scratch = calloc(1, ext > 0 ? ext : 1);
            if (scratch == NULL) {
                snprintf(err, cap, "out of memory");
                return -1;
            }
            char why[512];
            int bad = kvp_opt_set(o, value, scratch, style, why, sizeof(why));
            free(scratch);
            if (bad) {
                snprintf(err, cap, "transport '%s': %s", mods[m].name, why);
                return -1;
            }
            /* the module gets "key=value" without its "<module>." */
            out[(size_t)m * n_kv + n_out[m]++] =
                module != NULL ? kv[i] + (bare - key) : kv[i];
            taken = 1;
        }
        if (taken)
            continue;
        if (module != NULL && !addressed) {
            (*n_skipped)++; /* for a transport not in use */
            continue;
        }
        char whole[160];
        snprintf(whole, sizeof(whole), "%s%s%s", module != NULL ? module : "",
                 module != NULL ? "." : "", bare);
        kvp_opt_label(whole, style, label, sizeof(label));
        unknown_msg(mods, n_mods, label, module, style, core_names, err, cap);
        return -1;
    }
    return 0;
}
