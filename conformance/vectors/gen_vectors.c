/*
 * gen_vectors.c - writes the tensor header test vectors: one small .bin
 * object per vector and index.txt naming, per line, the case, the file, the
 * status a TP put must return, tp_size, split_dim and the rule the object
 * breaks. Usage: kvplug-conformance-gen-vectors OUTDIR
 *
 * Every invalid vector starts from a valid f32 [4,6] object and breaks ONE
 * rule of DESIGN.md §3; each gets a tp_size 1 and a tp_size 2 line (both
 * must be refused with KVP_ERR_INVALID).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_obj.h"

#define OBJ_MAX 8192

static const char *outdir;
static FILE *index_f;

static const char *const dtype_names[KVP_DTYPE_COUNT] = {
    "f32", "f64", "i8",   "u8",  "i16",  "u16",    "i32",   "u32",
    "i64", "u64", "bool", "f16", "bf16", "f8e4m3", "f8e5m2"};

static void write_obj(const char *name, const uint8_t *obj, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.bin", outdir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (len && fwrite(obj, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "gen_vectors: cannot write %s\n", path);
        exit(1);
    }
}

static void emit(const char *name, const uint8_t *obj, size_t len,
                 const char *expect, const char *rule)
{
    write_obj(name, obj, len);
    fprintf(index_f, "%-34s %s.bin %-16s 1 0 %s\n", name, name, expect, rule);
    if (strcmp(expect, "KVP_OK") != 0) {
        char tp2[128]; /* names are < 96 bytes (the index's case name) */
        snprintf(tp2, sizeof(tp2), "%.100s-tp2", name);
        fprintf(index_f, "%-34s %s.bin %-16s 2 0 %s\n", tp2, name, expect,
                rule);
    }
}

static const int64_t base_shape[2] = {4, 6};

static size_t base(uint8_t *obj)
{
    return th_build_object(obj, KVP_DTYPE_F32, 2, base_shape, 7);
}

static void invalid(const char *name, const uint8_t *obj, size_t len,
                    const char *rule)
{
    char file[96];
    snprintf(file, sizeof(file), "bad-%s", name);
    emit(file, obj, len, "KVP_ERR_INVALID", rule);
}

static void with_axis(uint8_t *obj, int32_t rank, int32_t count,
                      int32_t split_dim)
{
    th_put32(obj, TH_AXIS_COUNT, 1);
    size_t a = TH_AXES;
    th_put32(obj, a + 0, KVP_AXIS_TP);
    th_put32(obj, a + 4, 0);
    th_put32(obj, a + 8, (uint32_t)rank);
    th_put32(obj, a + 12, (uint32_t)count);
    th_put32(obj, a + 16, (uint32_t)split_dim);
    th_put64(obj, a + 24, 0);
}

static void gen_valid(void)
{
    static uint8_t obj[OBJ_MAX];
    size_t len = base(obj);
    emit("ok-f32-4x6", obj, len, "KVP_OK", "a valid f32 [4,6] object");
    for (int32_t dt = 0; dt < KVP_DTYPE_COUNT; dt++) {
        const int64_t shape[2] = {3, 2};
        char name[64], rule[128];
        len = th_build_object(obj, dt, 2, shape, 100u + (uint32_t)dt);
        snprintf(name, sizeof(name), "ok-dtype-%s", dtype_names[dt]);
        snprintf(rule, sizeof(rule), "dtype %d (%s, %u bytes) is valid", dt,
                 dtype_names[dt], kvp_dtype_size(dt));
        emit(name, obj, len, "KVP_OK", rule);
    }
    len = th_build_object(obj, KVP_DTYPE_F64, 0, NULL, 3);
    emit("ok-ndim-0-scalar", obj, len, "KVP_OK",
         "ndim 0 is a scalar with numel 1");
    const int64_t s8[8] = {2, 1, 2, 1, 3, 1, 2, 2};
    len = th_build_object(obj, KVP_DTYPE_I16, 8, s8, 4);
    emit("ok-ndim-8", obj, len, "KVP_OK", "ndim 8 is valid");
    const int64_t z[2] = {0, 4};
    len = th_build_object(obj, KVP_DTYPE_F32, 2, z, 5);
    emit("ok-zero-element", obj, len, "KVP_OK",
         "a zero-element tensor is a valid 304-byte object");
    len = base(obj);
    with_axis(obj, 0, 2, -1);
    emit("ok-axis-split-dim-minus-1", obj, len, "KVP_OK",
         "an axis with split_dim -1 (not split) is valid");
}

static void gen_header_fields(void)
{
    static uint8_t obj[OBJ_MAX];
    size_t len = base(obj);
    th_put32(obj, TH_MAGIC, 0x4E4F4F4D);
    invalid("magic", obj, len, "magic must be 0x4D4F4F4E");
    len = base(obj);
    th_put16(obj, TH_VERSION, 2);
    invalid("version-2", obj, len, "version must be 1");
    len = base(obj);
    th_put16(obj, TH_VERSION, 0);
    invalid("version-0", obj, len, "version must be 1");
    len = base(obj);
    th_put16(obj, TH_HEADER_SIZE, 296);
    invalid("header-size-296", obj, len, "header_size must be 304");
    len = base(obj);
    th_put32(obj, TH_DTYPE, (uint32_t)-1);
    invalid("dtype-negative", obj, len, "dtype must be in 0..14");
    len = base(obj);
    th_put32(obj, TH_DTYPE, KVP_DTYPE_COUNT);
    invalid("dtype-15", obj, len, "dtype must be in 0..14");
    len = base(obj);
    th_put32(obj, TH_NDIM, (uint32_t)-1);
    invalid("ndim-negative", obj, len, "ndim must be in 0..8");
    len = base(obj);
    th_put32(obj, TH_NDIM, 9);
    invalid("ndim-9", obj, len, "ndim must be in 0..8");
    len = base(obj);
    th_put32(obj, TH_LAYOUT, 2);
    invalid("layout-kind-2", obj, len, "layout_kind must be 0 or 1");
    len = base(obj);
    th_put32(obj, TH_AXIS_COUNT, 5);
    invalid("axis-count-5", obj, len, "axis_count must be <= 4");
}

static void gen_shapes(void)
{
    static uint8_t obj[OBJ_MAX];
    size_t len = base(obj);
    th_put64(obj, TH_LOCAL_SHAPE + 8, (uint64_t)-6);
    invalid("dim-negative", obj, len, "dims i < ndim must be >= 0");
    len = base(obj);
    th_put64(obj, TH_LOCAL_SHAPE + 16, 0);
    invalid("unused-dim-zero", obj, len, "dims i >= ndim must be -1");
    len = base(obj);
    th_put64(obj, TH_LOCAL_SHAPE + 56, 1);
    invalid("unused-dim-last-1", obj, len, "dims i >= ndim must be -1");
    /* [2^32, 2^32] f32: numel * 4 wraps to 0 in 64 bits, matching a
     * 0-byte payload for a check that ignores overflow */
    len = base(obj);
    th_put64(obj, TH_LOCAL_SHAPE, UINT64_C(1) << 32);
    th_put64(obj, TH_LOCAL_SHAPE + 8, UINT64_C(1) << 32);
    th_put64(obj, TH_GLOBAL_SHAPE, UINT64_C(1) << 32);
    th_put64(obj, TH_GLOBAL_SHAPE + 8, UINT64_C(1) << 32);
    th_put64(obj, TH_DATA_BYTES, 0);
    invalid("numel-overflow-wraps-to-0", obj, KVP_TENSOR_HDR_SIZE,
            "numel(local_shape) x elem_size must not overflow");
    len = base(obj);
    th_put64(obj, TH_LOCAL_SHAPE, UINT64_C(1) << 62);
    th_put64(obj, TH_LOCAL_SHAPE + 8, 4);
    th_put32(obj, TH_DTYPE, KVP_DTYPE_U8);
    th_put64(obj, TH_DATA_BYTES, 0);
    invalid("numel-overflow-u8", obj, KVP_TENSOR_HDR_SIZE,
            "numel(local_shape) x elem_size must not overflow");
}

static void gen_lengths(void)
{
    static uint8_t obj[OBJ_MAX];
    size_t len = base(obj);
    th_put64(obj, TH_DATA_OFFSET, 312);
    memmove(obj + 312, obj + 304, len - 304);
    invalid("data-offset-312", obj, len + 8, "data_offset must be 304");
    len = base(obj);
    invalid("truncated-header-200", obj, 200,
            "data_offset = 304 must be <= len (a whole header)");
    invalid("empty-object", obj, 0,
            "data_offset = 304 must be <= len (a whole header)");
    len = base(obj);
    invalid("payload-short", obj, len - 4,
            "data_bytes must equal len - data_offset exactly");
    len = base(obj);
    obj[len] = 0xAB;
    obj[len + 1] = 0xCD;
    obj[len + 2] = 0xEF;
    obj[len + 3] = 0x01;
    invalid("payload-trailing-bytes", obj, len + 4,
            "data_bytes must equal len - data_offset exactly");
    len = base(obj);
    th_put64(obj, TH_LOCAL_SHAPE + 8, 5); /* numel 20 x 4 = 80 != 96 */
    th_put64(obj, TH_GLOBAL_SHAPE + 8, 5);
    invalid("data-bytes-not-numel", obj, len,
            "data_bytes must equal numel(local_shape) x elem_size");
}

static void gen_axes(void)
{
    static uint8_t obj[OBJ_MAX];
    size_t len = base(obj);
    with_axis(obj, 2, 2, 0);
    invalid("axis-rank-equals-count", obj, len,
            "each used axis needs 0 <= shard_rank < shard_count");
    len = base(obj);
    with_axis(obj, -1, 2, 0);
    invalid("axis-rank-negative", obj, len,
            "each used axis needs 0 <= shard_rank < shard_count");
    len = base(obj);
    with_axis(obj, 0, 0, 0);
    invalid("axis-count-zero", obj, len,
            "each used axis needs 0 <= shard_rank < shard_count");
    len = base(obj);
    with_axis(obj, 0, 2, 2);
    invalid("axis-split-dim-ndim", obj, len,
            "each used axis needs -1 <= split_dim < ndim");
    len = base(obj);
    with_axis(obj, 0, 2, -2);
    invalid("axis-split-dim-minus-2", obj, len,
            "each used axis needs -1 <= split_dim < ndim");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    char path[1024];
    snprintf(path, sizeof(path), "%s/index.txt", outdir);
    index_f = fopen(path, "w");
    if (index_f == NULL) {
        fprintf(stderr, "gen_vectors: cannot write %s\n", path);
        return 1;
    }
    fprintf(index_f,
            "# kvplug tensor header v1 test vectors (generated by "
            "gen_vectors.c; do not edit)\n"
            "# case file(.bin) expected-status tp_size split_dim rule\n");
    gen_valid();
    gen_header_fields();
    gen_shapes();
    gen_lengths();
    gen_axes();
    return fclose(index_f) == 0 ? 0 : 1;
}
