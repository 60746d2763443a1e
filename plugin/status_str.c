/* status_str.c - the name of every status code (static strings). */
#include "ops.h"

const char *kvp_op_status_str(int32_t status)
{
    switch (status) {
#define KVP_STATUS_CASE_(name, value, text)                                   \
    case value:                                                               \
        return #name ": " text;
        KVP_STATUS_LIST(KVP_STATUS_CASE_)
#undef KVP_STATUS_CASE_
    }
    return status < 0 ? "unknown error" : "unknown status";
}
