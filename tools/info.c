/*
 * info.c - kvplug-info: what is installed and how it would be configured,
 * like ucx_info: version, ABI and caps of the plugin, the transport and
 * discovery modules found (and why one was not), RDMA devices, and the
 * effective config after the KVPLUG_CONFIG merge.
 *
 *   kvplug-info [--config "key=value;..."] [--plugin PATH]
 *
 * Exit 0; 1 when the plugin itself cannot be loaded; 2 on bad usage or a
 * config that does not parse.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kvp_discovery.h"
#include "kvp_loader.h"
#include "kvp_transport.h"
#include "status_name.h"

#ifndef KVP_VERSION_STRING
#define KVP_VERSION_STRING "0.1.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kvplug-info [--config STR] [--plugin PATH] [--help]\n"
            "  prints the kvplug version, the plugin's ABI and caps, the "
            "transport and\n"
            "  discovery modules found (and why one was not), RDMA devices, "
            "and the\n"
            "  effective config: STR (default empty) with KVPLUG_CONFIG "
            "merged over it.\n"
            "  --plugin PATH   libkvplug.so to inspect (default "
            "$KVPLUG_PLUGIN, else the\n"
            "                  one next to this program: ../lib)\n");
}

/* Collects the module loader's messages: where a module came from, or
 * every path it tried. */
struct capture {
    char text[8192];
};

static void capture_log(void *user, int32_t level, const char *msg)
{
    (void)level;
    struct capture *c = user;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof(c->text) - n, "%s%s", n ? "; " : "", msg);
}

static void module_line(const char *kind, const char *name)
{
    struct capture cap = {""};
    struct kvp_logger lg = {capture_log, &cap, KVP_LOG_DEBUG};
    void *sym = NULL;
    const char *symbol = strcmp(kind, "transport") == 0
                             ? KVP_TRANSPORT_ENTRY_SYMBOL
                             : KVP_DISCOVERY_ENTRY_SYMBOL;
    int32_t st = kvp_module_open(kind, name, symbol, &lg, &sym);
    const char *from = strstr(cap.text, "loaded from ");
    if (st == KVP_OK)
        printf("  %-8s found: %s\n", name,
               from ? from + strlen("loaded from ") : "(path unknown)");
    else
        printf("  %-8s not available (%s): %s\n", name, kvp_status_name(st),
               cap.text);
}

static void rdma_devices(void)
{
    const char *root = "/sys/class/infiniband";
    DIR *d = opendir(root);
    int n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        for (int port = 1; port <= 4; port++) {
            char path[PATH_MAX], state[64] = "";
            snprintf(path, sizeof(path), "%s/%s/ports/%d/state", root,
                     de->d_name, port);
            FILE *f = fopen(path, "r");
            if (f == NULL)
                break;
            if (fgets(state, sizeof(state), f) != NULL)
                state[strcspn(state, "\n")] = '\0';
            fclose(f);
            printf("  %s port %d: %s\n", de->d_name, port, state);
            n++;
        }
    }
    if (d != NULL)
        closedir(d);
    if (n == 0)
        printf("  none (%s is %s): the verbs transport cannot run here; "
               "UCX can (shm/tcp)\n",
               root, d != NULL ? "empty" : "missing");
}

static void plugin_lines(const char *path)
{
    struct kvp_plugin pl;
    char err[1024] = "";
    char def[PATH_MAX];
    if (path == NULL || path[0] == '\0')
        path = getenv("KVPLUG_PLUGIN");
    if (path == NULL || path[0] == '\0') {
        Dl_info info;
        const char *self = NULL;
        if (dladdr((void *)plugin_lines, &info) != 0)
            self = info.dli_fname;
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
            exe[n] = '\0';
            self = exe;
        }
        const char *slash = self ? strrchr(self, '/') : NULL;
        snprintf(def, sizeof(def), "%.*s/../lib/libkvplug.so",
                 slash ? (int)(slash - self) : 1, slash ? self : ".");
        path = def;
    }
    if (kvp_loader_open(path, NULL, &pl, err, sizeof(err)) != KVP_OK) {
        printf("  plugin   not loadable: %s\n", err);
        return;
    }
    printf("  plugin   %s\n  name     %s %s\n  ABI      %u.%u (this host "
           "%u.%u; the plugin's highest minor %u)\n  caps    ",
           pl.path, pl.ops->name, pl.ops->version, pl.abi_major,
           pl.abi_minor, KVP_ABI_MAJOR, KVP_ABI_MINOR, pl.plugin_abi_minor);
    static const struct {
        uint64_t bit;
        const char *name;
    } caps[] = {{KVP_CAP_THREAD_SAFE, "thread_safe"},
                {KVP_CAP_TP, "tp"},
                {KVP_CAP_BATCH, "batch"},
                {KVP_CAP_OVERWRITE, "overwrite"},
                {KVP_CAP_CUDA, "cuda"}};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        if (pl.ops->caps & caps[i].bit)
            printf(" %s", caps[i].name);
    printf("\n");
    kvp_loader_close(&pl);
}

int main(int argc, char **argv)
{
    const char *config = "", *plugin = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc) {
            plugin = argv[++i];
        } else {
            fprintf(stderr, "kvplug-info: unknown argument '%s' (see "
                            "--help)\n", argv[i]);
            return 2;
        }
    }
    printf("kvplug %s\n", KVP_VERSION_STRING);
    plugin_lines(plugin);
    printf("transport modules:\n");
    module_line("transport", "ucx");
    module_line("transport", "verbs");
    printf("discovery modules:\n");
    module_line("discovery", "etcd");
    printf("RDMA devices:\n");
    rdma_devices();
    struct kvp_logger lg;
    kvp_logger_init_stderr(&lg, KVP_LOG_ERROR);
    struct kvp_config cfg;
    if (cfg_load(config, &cfg, &lg) != KVP_OK) {
        fprintf(stderr, "kvplug-info: the config does not parse (see "
                        "above)\n");
        return 2;
    }
    const char *env = getenv("KVPLUG_CONFIG");
    printf("effective config (--config, then KVPLUG_CONFIG%s%s%s):\n",
           env ? "='" : " unset", env ? env : "", env ? "'" : "");
    char eff[4096];
    cfg_describe(&cfg, eff, sizeof(eff));
    for (char *tok = strtok(eff, ";"); tok != NULL; tok = strtok(NULL, ";"))
        printf("  %s\n", tok[0] == ' ' ? tok + 1 : tok);
    return 0;
}
