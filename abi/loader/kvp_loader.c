/* kvp_loader.c - placeholder, replaced by the loader implementation. */
#include "kvp_loader.h"
