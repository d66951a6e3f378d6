// Aligned scratch memory for packed operands and per-worker tiles. Blocks come from a small
// process-wide cache: a fresh page costs a fault and a kernel zero-fill, a tenth of a small
// attention call, so the blocks one call frees serve the next.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "attnlab/api.hpp"

namespace attnlab::workspace {

// At least `bytes` of 64-byte aligned memory (2 MiB aligned and huge-page advised when large);
// throws std::bad_alloc. `capacity` receives the block's true size, to hand back to release.
void* acquire(std::size_t bytes, std::size_t& capacity);
// Returns a block to the cache, or to the system when the cache is full.
void release(void* block, std::size_t capacity) noexcept;
// Frees every cached block (for tests and for callers that want the memory back).
void trim() noexcept;
// Bytes held in the cache now.
std::size_t cached_bytes() noexcept;

// n elements of T, zero-filled unless told otherwise (for memory the kernels write first).
template <class T>
class Buffer {
public:
    explicit Buffer(index_t n, bool zero = true) {
        const std::size_t bytes = static_cast<std::size_t>(std::max<index_t>(n, 1)) * sizeof(T);
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
