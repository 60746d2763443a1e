/*
 * tp_module.h - finds and loads a transport module (libkvplug_<name>.so)
 * and checks its private ops table version.
 *
 * Search order: $KVPLUG_TRANSPORT_DIR, the directory of the binary that
 * contains this code (libkvplug.so or kvplug-server), that directory's
 * ../lib and kvplug/ subfolder, then the install libdir. Modules are never
 * unloaded (engines may still use them).
 */
#ifndef KVP_UTIL_TP_MODULE_H
#define KVP_UTIL_TP_MODULE_H

#include "kvp_transport.h"
#include "log.h"

/* name: "ucx" or "verbs". KVP_ERR_NOT_SUPPORTED if no module of that name is
 * found (message names every path tried and dlerror()), KVP_ERR_ABI_MISMATCH
 * on a version/size mismatch. */
int32_t tp_module_load(const char *name, const struct kvp_logger *lg,
                       const struct kvp_transport_ops **ops_p);

#endif /* KVP_UTIL_TP_MODULE_H */
