// Kernels for avx512f; the only file built with its instruction-set flags.
#define ATTNLAB_ARCH_NS avx512f
#include "kernels/table.hpp"

const attnlab::KernelTable attnlab::kernels_avx512f =
    attnlab::kernels::avx512f::make_table<xsimd::avx512f>("avx512f");
