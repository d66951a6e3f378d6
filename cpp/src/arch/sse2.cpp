// Kernels for sse2; this file and layers/optimizer_update.cpp are the only ones built with
// its instruction-set flags.
#define ATTNLAB_ARCH_NS sse2
#include "kernels/table.hpp"

const attnlab::KernelTable attnlab::kernels_sse2 =
    attnlab::kernels::sse2::make_table<xsimd::sse2>("sse2");
