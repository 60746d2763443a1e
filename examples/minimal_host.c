/*
 * minimal_host.c - the smallest complete kvplug host: load the plugin,
 * create an engine with a small embedded pool, register one buffer, put a
 * plain object, get it back, check it, clean up. Every return is checked
 * and every failure is printed by name (ops->status_str).
 *
 * Build against an installed kvplug (see examples/README.md):
 *   cmake: find_package(kvplug) + target_link_libraries(... kvplug::loader)
 *   pkg-config: cc minimal_host.c $(pkg-config --cflags --libs kvplug)
 *
 * Usage: minimal_host [PLUGIN]
 * PLUGIN: path of libkvplug.so; else $KVPLUG_PLUGIN; else "libkvplug.so"
 * (the dynamic linker's search path). $KVPLUG_CONFIG is merged over the
 * config below (docs/config.md). Exit status 0 only if the object read
 * back equals the one stored.
 *
 * Tensor-parallel puts (put_tensor_with_tp_from) take a tensor object: a
 * 304-byte tensor header, then the payload (docs/tensor-format.md);
 * kvplug-demo (kvplug_demo.c) shows them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvplug/abi.h>
#include <kvplug/kvp_loader.h>

#define OBJ_LEN (64u * 1024u)     /* the plain object: 64 KiB of bytes */
#define BUF_LEN (2u * OBJ_LEN)    /* one registered buffer: source + sink */
#define CONFIG  "pool_size=64MiB" /* embedded server, default transport */
#define OBJ_KEY "minimal_host/object"

static int fail(const struct kvp_plugin *p, const char *what, int64_t st)
{
    fprintf(stderr, "minimal_host: %s failed: %s\n", what,
            p->ops->status_str((int32_t)st));
    return 1;
}

/* Everything between engine_create and engine_destroy. */
static int put_get(const struct kvp_plugin *p, struct kvp_engine *e,
                   unsigned char *buf)
{
    unsigned char *src = buf, *dst = buf + OBJ_LEN;
    for (uint32_t i = 0; i < OBJ_LEN; i++)
        src[i] = (unsigned char)(i * 7u + 3u);
    memset(dst, 0, OBJ_LEN);

    int32_t st = p->ops->register_buffer(e, buf, BUF_LEN);
    if (st != KVP_OK)
        return fail(p, "register_buffer", st);
    int rc = 1;
    st = p->ops->put_from(e, OBJ_KEY, src, OBJ_LEN, NULL);
    if (st != KVP_OK) {
        fail(p, "put_from", st);
        goto out;
    }
    int64_t got = p->ops->get_into(e, OBJ_KEY, dst, OBJ_LEN);
    if (got < 0) {
        fail(p, "get_into", got);
        goto out;
    }
    if (got != (int64_t)OBJ_LEN || memcmp(src, dst, OBJ_LEN) != 0) {
        fprintf(stderr,
                "minimal_host: read back %lld bytes that differ "
                "from the %u stored\n",
                (long long)got, OBJ_LEN);
        goto out;
    }
    st = p->ops->remove(e, OBJ_KEY);
    if (st != KVP_OK) {
        fail(p, "remove", st);
        goto out;
    }
    printf("minimal_host: put/get of %u bytes: ok\n", OBJ_LEN);
    rc = 0;
out:
    st = p->ops->unregister_buffer(e, buf);
    if (st != KVP_OK)
        rc = fail(p, "unregister_buffer", st);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : getenv("KVPLUG_PLUGIN");
    if (path == NULL || path[0] == '\0')
        path = "libkvplug.so";

    struct kvp_plugin p;
    char err[512];
    int32_t st = kvp_loader_open(path, NULL, &p, err, sizeof(err));
    if (st != KVP_OK) {
        fprintf(stderr, "minimal_host: cannot load %s: %s\n", path, err);
        return 1;
    }
    printf("minimal_host: loaded %s (%s %s, ABI %u.%u)\n", p.path, p.ops->name,
           p.ops->version, p.abi_major, p.abi_minor);

    int rc = 1;
    unsigned char *buf = malloc(BUF_LEN);
    struct kvp_engine *e = NULL;
    if (buf == NULL) {
        fprintf(stderr, "minimal_host: out of memory\n");
        goto out;
    }
    st = p.ops->engine_create(CONFIG, NULL, &e);
    if (st != KVP_OK) {
        fail(&p, "engine_create", st);
        goto out;
    }
    rc = put_get(&p, e, buf);
    st = p.ops->engine_destroy(e);
    if (st != KVP_OK)
        rc = fail(&p, "engine_destroy", st);
out:
    free(buf);
    kvp_loader_close(&p);
    if (rc == 0)
        printf("minimal_host: PASSED\n");
    return rc;
}
