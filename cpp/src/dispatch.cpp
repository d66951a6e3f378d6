// CPU detection (once), the best-first walk over the compiled arches, and the test override.
#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "attnlab/api.hpp"
#include "fp_mode.hpp"
#include "kernel_table.hpp"

namespace attnlab {
namespace {

// Every compiled arch, best first; the baseline last. The compiler's own feature test checks
// that the OS saves the wider registers too (XCR0), unlike older xsimd.
std::vector<const KernelTable*> detect() {
    std::vector<const KernelTable*> found;
#if defined(ATTNLAB_HAVE_AVX512F)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        found.push_back(&kernels_avx512f);
#endif
#if defined(ATTNLAB_HAVE_AVX2)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        found.push_back(&kernels_avx2);
#endif
#if defined(ATTNLAB_HAVE_SSE2)
    found.push_back(&kernels_sse2);
#endif
#if defined(ATTNLAB_HAVE_NEON64)
    found.push_back(&kernels_neon64);
#endif
    return found;
}

const std::vector<const KernelTable*>& usable() {
    static const std::vector<const KernelTable*> tables = detect();
    return tables;
}

std::atomic<const KernelTable*> forced{nullptr};

}  // namespace

const KernelTable& active_kernels() {
    const KernelTable* table = forced.load();
    return table ? *table : *usable().front();
}

template <class T>
void vector_exp(const T* x, index_t n, ExpVariant variant, T* out) {
    fp_mode::FlushDenormals flush;  // as every kernel on the pool
    active_kernels().exp<T>()(x, n, variant, out);
}

template void vector_exp<float>(const float*, index_t, ExpVariant, float*);
template void vector_exp<double>(const double*, index_t, ExpVariant, double*);

namespace arch {

std::vector<std::string> available() {
    std::vector<std::string> names;
    for (const KernelTable* t : usable()) names.emplace_back(t->name);
    return names;
}

std::string current() { return active_kernels().name; }

void force(const std::string& name) {
    if (name.empty()) {
        forced = nullptr;
        return;
    }
    for (const KernelTable* t : usable()) {
        if (name == t->name) {
            forced = t;
            return;
        }
    }
    throw std::invalid_argument("arch '" + name + "' is not available on this CPU");
}

}  // namespace arch

}  // namespace attnlab
