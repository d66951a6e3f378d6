// The workspace cache: up to kSlots freed blocks kept for reuse, at most kCacheBytes in all.
// A call takes the smallest cached block that fits and wastes at most half of it.
#include "workspace.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>

#include <pthread.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace attnlab::workspace {
namespace {

constexpr std::size_t kHuge = std::size_t(2) << 20;
// Holds the weights of a (4, 8, 1024, 64) attention (128 MiB) next to every block of its
// backward, and the large arrays of a small model's training step (python/attnlab/_memory.py):
// each step frees and allocates the same sizes again.
constexpr std::size_t kCacheBytes = std::size_t(512) << 20;
constexpr std::size_t kSlots = 64;

struct Block {
    void* data = nullptr;
    std::size_t capacity = 0;
};

std::mutex mutex;
std::array<Block, kSlots> cache;  // oldest first; the first `count` are in use
std::size_t count = 0;
std::size_t cached = 0;

std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

// A fork() while another thread holds the cache's mutex would leave it locked forever in the
// child: the forking thread takes it first, and both sides release it.
void lock_for_fork() { mutex.lock(); }
void unlock_after_fork() { mutex.unlock(); }
[[maybe_unused]] const bool fork_handlers =
    pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork) == 0;

// Removes slot i from the cache (mutex held) and returns its block.
Block take(std::size_t i) {
    Block b = cache[i];
    for (std::size_t j = i + 1; j < count; ++j) cache[j - 1] = cache[j];
    --count;
    cached -= b.capacity;
    return b;
}

}  // namespace

std::size_t physical_memory() noexcept {
    static const std::size_t bytes = [] {
        const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages <= 0 || page <= 0) return SIZE_MAX;
        return static_cast<std::size_t>(pages) * static_cast<std::size_t>(page);
    }();
    return bytes;
}

void* acquire(std::size_t bytes, std::size_t& capacity) {
    if (bytes > physical_memory()) throw std::bad_alloc();
    // Blocks of 4 MiB and more get 2 MiB pages: their first touch faults 512x less often.
    // An empty request still gets a real block: aligned_alloc(64, 0) may return null.
    bytes = std::max<std::size_t>(bytes, 1);
    const bool huge = bytes >= 2 * kHuge;
    const std::size_t size = round_up(bytes, huge ? kHuge : 64);
    {
        std::lock_guard<std::mutex> lock(mutex);
        std::size_t best = count;
        for (std::size_t i = 0; i < count; ++i)
            if (cache[i].capacity >= size && cache[i].capacity <= 2 * size &&
                (best == count || cache[i].capacity < cache[best].capacity))
                best = i;
        if (best != count) {
            Block b = take(best);
            capacity = b.capacity;
            return b.data;
        }
    }
    void* p = std::aligned_alloc(huge ? kHuge : 64, size);
    if (!p) throw std::bad_alloc();
#if defined(__linux__)
    if (huge) madvise(p, size, MADV_HUGEPAGE);
#endif
    capacity = size;
    return p;
}

void release(void* block, std::size_t capacity) noexcept {
    if (capacity > kCacheBytes) return std::free(block);
    std::lock_guard<std::mutex> lock(mutex);
    // Room is made by freeing the oldest blocks.
    while (count == kSlots || cached + capacity > kCacheBytes) std::free(take(0).data);
    cache[count++] = {block, capacity};
    cached += capacity;
}

void trim() noexcept {
    std::lock_guard<std::mutex> lock(mutex);
    while (count > 0) std::free(take(0).data);
}

std::size_t cached_bytes() noexcept {
    std::lock_guard<std::mutex> lock(mutex);
    return cached;
}

}  // namespace attnlab::workspace
