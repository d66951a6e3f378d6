// Aligned scratch memory for packed operands and per-worker tiles. Blocks come from a small
// process-wide cache: a fresh page costs a fault and a kernel zero-fill, a tenth of a small
// attention call, so the blocks one call frees serve the next.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <utility>

#include "attnlab/api.hpp"

namespace attnlab::workspace {

// At least `bytes` of 64-byte aligned memory (2 MiB aligned and huge-page advised when large),
// a real block even for 0; throws std::bad_alloc, at once for more than physical_memory().
// `capacity` receives the block's true size, to hand back to release.
void* acquire(std::size_t bytes, std::size_t& capacity);
// Returns a block to the cache, or to the system when the cache is full.
void release(void* block, std::size_t capacity) noexcept;
// Frees every cached block (for tests and for callers that want the memory back).
void trim() noexcept;
// Bytes held in the cache now.
std::size_t cached_bytes() noexcept;
// The machine's installed memory in bytes (SIZE_MAX when unknown): no request above it can be
// met without swapping the machine to a halt, so none is attempted.
std::size_t physical_memory() noexcept;

// n elements of T, zero-filled unless told otherwise (for memory the kernels write first);
// std::bad_alloc when n * sizeof(T) overflows.
template <class T>
class Buffer {
public:
    explicit Buffer(index_t n, bool zero = true) {
        std::size_t bytes;
        if (n < 0 || __builtin_mul_overflow(static_cast<std::size_t>(n), sizeof(T), &bytes))
            throw std::bad_alloc();
        data_ = static_cast<T*>(acquire(bytes, capacity_));
        if (zero) std::memset(data_, 0, bytes);
    }
    Buffer(Buffer&& other) noexcept : data_(other.data_), capacity_(other.capacity_) {
        other.data_ = nullptr;
    }
    Buffer& operator=(Buffer&& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(capacity_, other.capacity_);
        return *this;
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() {
        if (data_) release(data_, capacity_);
    }
    T* get() const { return data_; }

private:
    T* data_ = nullptr;
    std::size_t capacity_ = 0;
};

}  // namespace attnlab::workspace
