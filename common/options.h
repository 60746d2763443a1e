/*
 * options.h - the one table-driven option parser of kvplug (DESIGN §1, §5;
 * STYLE "A module owns its options").
 *
 * An option table says, per option: its name, its type, where its value
 * goes (offset and size of a field of the caller's struct), its range and
 * the accepted values in words. The same table drives the plugin config
 * (`pool_size=64MiB`), kvplug-server's flags (`--pool-size 64MiB`: the
 * flag is the name with '_' as '-') and every transport module's own
 * options; the same parser reads every size, so each side accepts what
 * the other does.
 *
 * Messages are written into a caller's buffer (one line, no scope prefix):
 * the caller logs or prints it with its own prefix ("config: ", "verbs: ").
 */
#ifndef KVP_COMMON_OPTIONS_H
#define KVP_COMMON_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum kvp_opt_type {
    KVP_OPT_STR,    /* char[size], copied; KVP_OPT_NONEMPTY refuses "" */
    KVP_OPT_INT,    /* int32_t in [min, max] */
    KVP_OPT_UINT,   /* uint32_t in [min, max] */
    KVP_OPT_SIZE,   /* uint64_t bytes with a unit (kvp_parse_size), >= min;
                     * max 0 = no upper bound */
    KVP_OPT_BOOL,   /* int32_t 0/1: 0 1 false true no yes off on */
    KVP_OPT_LEVEL,  /* int32_t KVP_LOG_*: error warn info debug 0..3 */
    KVP_OPT_FLAG,   /* int32_t set to 1; takes no value (--help) */
    KVP_OPT_CUSTOM, /* parse() below */
};

#define KVP_OPT_NONEMPTY 1u /* KVP_OPT_STR: "" is refused */
#define KVP_OPT_NO_CLI   2u /* not offered as a --flag (config only) */
#define KVP_OPT_NO_CFG   4u /* not offered as a config key (flag only) */

struct kvp_opt {
    const char *name; /* config key; the flag is "--" + name, '_' -> '-' */
    uint32_t type;    /* enum kvp_opt_type */
    uint32_t flags;   /* KVP_OPT_NONEMPTY ... */
    size_t offset;    /* of the field in the target struct */
    size_t size;      /* of the field */
    int64_t min, max; /* range (INT, UINT, SIZE) */
    /* CUSTOM: 0, or -1 with *why (a static string) set. */
    int (*parse)(const char *value, void *field, size_t size, const char **why);
    const char *arg;      /* value placeholder in --help: "SIZE" */
    const char *accepted; /* the accepted values in words, for errors */
    const char *help;     /* one line for --help and the docs */
    /* CUSTOM: writes the field's value as the option would take it (for
     * the effective config, kvp_opt_describe); NULL = "(set)". */
    void (*show)(const void *field, size_t size, char *buf, size_t cap);
};

/* offset and size of `field` of `type`, for a table entry. */
#define KVP_OPT_AT(type, field)                                                \
    offsetof(type, field), sizeof(((type *)0)->field)

/* How option names are shown: config keys or command-line flags. */
enum kvp_opt_style { KVP_OPT_KEYS, KVP_OPT_FLAGS };

/* ---- sizes ------------------------------------------------------------ */

/* The one size parser: a decimal integer, optional spaces, an optional
 * unit, case-insensitive: B; KiB MiB GiB TiB and K M G T (powers of 1024);
 * KB MB GB TB (powers of 1000). "64mib", "64 MiB", "4096", "1GB".
 * 0, or -1 with *why (static) on anything else or an overflow. why may be
 * NULL. */
int kvp_parse_size(const char *s, uint64_t *out, const char **why);

/* ---- one table ---------------------------------------------------------- */

/* The entry named key (its config key, or its flag without the leading
 * "--" and with '-' for '_'), NULL if none. */
const struct kvp_opt *kvp_opt_find(const struct kvp_opt *t, size_t n,
                                   const char *key);

/* Parses value into the field of target. 0, or -1 with a message naming
 * the option (in style), the value, why and the accepted values. */
int kvp_opt_set(const struct kvp_opt *o, const char *value, void *target,
                enum kvp_opt_style style, char *err, size_t cap);

/* "gid_index" or "--gid-index" into buf. */
void kvp_opt_label(const char *name, enum kvp_opt_style style, char *buf,
                   size_t cap);

/* The names of the table, ", "-separated, appended to buf. */
void kvp_opt_names(const struct kvp_opt *t, size_t n, enum kvp_opt_style style,
                   char *buf, size_t cap);

/* One "  --name ARG   help" line per option (flags), or "  name=ARG ..."
 * (keys). */
void kvp_opt_usage(FILE *f, const struct kvp_opt *t, size_t n,
                   enum kvp_opt_style style);

/* The value of o in target, as a user would write it ("64 MiB", "warn",
 * "(none)" for an empty string), into buf. */
void kvp_opt_show(const struct kvp_opt *o, const void *target, char *buf,
                  size_t cap);

/* Appends "name=value; " for every entry of the table offered in style
 * (the effective configuration, every key) to buf (NUL-terminated;
 * truncated at cap). */
void kvp_opt_describe(const struct kvp_opt *t, size_t n, const void *target,
                      enum kvp_opt_style style, char *buf, size_t cap);

/* Module side: applies "key=value" strings to target with the module's
 * table. 0, or -1 with a message naming the key, the value and the
 * accepted values (or, for a key not in the table, the valid keys). */
int kvp_opts_apply(const struct kvp_opt *t, size_t n, const char *const *kv,
                   uint32_t n_kv, void *target, char *err, size_t cap);

/* ---- a list of key=value strings (the options meant for modules) ------ */

#define KVP_KVLIST_CAP 8192
#define KVP_KVLIST_MAX 64

struct kvp_kvlist {
    uint32_t n;               /* entries */
    uint32_t used;            /* bytes of buf used */
    char buf[KVP_KVLIST_CAP]; /* "key=value\0key=value\0...", unused = 0 */
};

/* A module key: 1..63 of [a-z0-9_], optionally "<module>." before it. */
int kvp_key_valid(const char *key);
/* Sets key to value, replacing an entry of the same key. 0, or -1 when
 * the list is full. */
int kvp_kvlist_set(struct kvp_kvlist *l, const char *key, const char *value);
/* The value of key, NULL when absent. */
const char *kvp_kvlist_get(const struct kvp_kvlist *l, const char *key);
/* Pointers to the n entries ("key=value") into out (KVP_KVLIST_MAX). */
uint32_t kvp_kvlist_ptrs(const struct kvp_kvlist *l, const char **out);

/* ---- routing module options (the core's side) ------------------------- */

struct kvp_opt_module {
    const char *name;        /* "ucx" */
    const struct kvp_opt *t; /* its table (may be NULL: no options) */
    size_t n;
};

/* Hands each "key=value" of kv to the modules in use (mods) that take it:
 * a bare key goes to every module whose table has it, and must be taken
 * by one; "<module>.key=value" goes to that module only, and is skipped
 * (*n_skipped counted) when that module is not in use. Each value is
 * checked with the module's table (a dry run: the module parses it again
 * when it starts). out[m * n_kv ...] gets the "key=value" strings for
 * module m (pointers into kv), n_out[m] their count.
 * 0, or -1 with a message naming the module, the key (in style) and the
 * accepted values; an unknown key's message lists core_names (the
 * caller's own keys) and every module's keys. */
int kvp_opts_route(const struct kvp_opt_module *mods, uint32_t n_mods,
                   const char *const *kv, uint32_t n_kv,
                   enum kvp_opt_style style, const char *core_names,
                   const char **out, uint32_t *n_out, uint32_t *n_skipped,
                   char *err, size_t cap);

#endif /* KVP_COMMON_OPTIONS_H */
