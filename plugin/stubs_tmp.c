/* stubs_tmp.c - TEMPORARY: ops not implemented yet return
 * KVP_ERR_NOT_SUPPORTED. Deleted by the engine implementation. */
#include "ops.h"

int32_t kvp_op_engine_create(const char *c, const struct kvp_host_api *h,
                             struct kvp_engine **e)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_engine_destroy(struct kvp_engine *e)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_register_buffer(struct kvp_engine *e, void *p, uint64_t l)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_unregister_buffer(struct kvp_engine *e, void *p)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_put_from(struct kvp_engine *e, const char *k, const void *p,
                        uint64_t l, const struct kvp_put_opts *o)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_batch_put_from(struct kvp_engine *e, uint32_t n,
                              const char *const *k, const void *const *p,
                              const uint64_t *l,
                              const struct kvp_put_opts *o, int32_t *r)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int64_t kvp_op_get_into(struct kvp_engine *e, const char *k, void *p,
                        uint64_t c)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_batch_get_into(struct kvp_engine *e, uint32_t n,
                              const char *const *k, void *const *p,
                              const uint64_t *c, int64_t *r)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_put_tensor_with_tp_from(struct kvp_engine *e, const char *k,
                                       const void *p, uint64_t l, int32_t r,
                                       int32_t s, int32_t d,
                                       const struct kvp_put_opts *o)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_batch_put_tensor_with_tp_from(
    struct kvp_engine *e, uint32_t n, const char *const *k,
    const void *const *p, const uint64_t *l, int32_t r, int32_t s, int32_t d,
    const struct kvp_put_opts *o, int32_t *res)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int64_t kvp_op_get_tensor_with_tp_into(struct kvp_engine *e, const char *k,
                                       void *p, uint64_t c, int32_t r,
                                       int32_t s)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_batch_get_tensor_with_tp_into(
    struct kvp_engine *e, uint32_t n, const char *const *k, void *const *p,
    const uint64_t *c, int32_t r, int32_t s, int64_t *res)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_exists(struct kvp_engine *e, const char *k)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int64_t kvp_op_stat(struct kvp_engine *e, const char *k)
{
    return KVP_ERR_NOT_SUPPORTED;
}
int32_t kvp_op_remove(struct kvp_engine *e, const char *k)
{
    return KVP_ERR_NOT_SUPPORTED;
}
