/* status_name.c - status code -> its name (status_name.h). */
#include "status_name.h"

#include "kvplug/status.h"

const char *kvp_status_name(int32_t status)
{
    switch (status) {
#define KVP_STATUS_NAME_(name, value, text)                                   \
    case value:                                                               \
        return #name;
        KVP_STATUS_LIST(KVP_STATUS_NAME_)
#undef KVP_STATUS_NAME_
    }
    return status < 0 ? "KVP_ERR_UNKNOWN" : "KVP_UNKNOWN";
}
