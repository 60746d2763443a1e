/*
 * module.h - finds and loads a kvplug module (libkvplug_<name>.so): the
 * transport modules and the discovery client are loaded this way, only
 * when a config asks for them.
 *
 * Search order: $KVPLUG_MODULE_DIR (or its older name
 * $KVPLUG_TRANSPORT_DIR), the directory of the binary that contains this
 * code (libkvplug.so or kvplug-server), that directory's kvplug/ subfolder
 * (the installed layout: lib/kvplug/), its ../lib and ../lib/kvplug (the
 * build tree and an installed bin/), then the install libdir's kvplug/.
 * Modules are never unloaded (engines may still use them).
 */
#ifndef KVP_COMMON_MODULE_H
#define KVP_COMMON_MODULE_H

#include "log.h"

/* kind names the module in messages ("transport", "discovery"); name is
 * its short name ("ucx"). *sym_p = the module's `symbol`.
 * KVP_ERR_NOT_SUPPORTED if no module of that name is found (the message
 * names every path tried with its dlerror()), KVP_ERR_ABI_MISMATCH if the
 * library lacks the symbol, KVP_ERR_INVALID for a bad name. */
int32_t kvp_module_open(const char *kind, const char *name,
                        const char *symbol, const struct kvp_logger *lg,
                        void **sym_p);

#endif /* KVP_COMMON_MODULE_H */
