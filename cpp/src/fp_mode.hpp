// The floating-point mode kernels run in: denormal inputs read as zero and denormal results
// flushed to zero (x86-64: MXCSR's DAZ and FTZ; arm64: FPCR's FZ, which does both). Intel cores
// take a microcode assist on every operation that reads or makes a denormal, tens of times the
// normal cost, and a backward pass over saturated softmaxes is full of them; a flushed value
// differs from the unflushed one by less than the smallest normal float (2^-126, 2^-1022).
// Results where no denormal occurs are bitwise the same either way.
#pragma once

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace attnlab::fp_mode {

using Word = std::uint64_t;  // the thread's floating-point control register

#if defined(__x86_64__) || defined(__i386__)
constexpr Word kFlushDenormals = 0x8000 | 0x0040;  // MXCSR FTZ (bit 15) | DAZ (bit 6)

inline Word read() { return _mm_getcsr(); }
inline void write(Word w) { _mm_setcsr(static_cast<unsigned>(w)); }
#elif defined(__aarch64__)
constexpr Word kFlushDenormals = Word(1) << 24;  // FPCR FZ

inline Word read() {
    Word w;
    asm volatile("mrs %0, fpcr" : "=r"(w));
    return w;
}
inline void write(Word w) { asm volatile("msr fpcr, %0" : : "r"(w)); }
#else
constexpr Word kFlushDenormals = 0;  // no known control: denormals stay as the CPU makes them

inline Word read() { return 0; }
inline void write(Word) {}
#endif

// Flushes denormals on the calling thread for its lifetime, then puts back the caller's flush
// bits; the rest of the register (rounding, exception masks, and on x86 the sticky exception
// flags the kernels raised meanwhile) is left as it is.
class FlushDenormals {
public:
    FlushDenormals() : saved_(read()) {
        if ((saved_ & kFlushDenormals) != kFlushDenormals) write(saved_ | kFlushDenormals);
    }
    ~FlushDenormals() {
        if ((saved_ & kFlushDenormals) != kFlushDenormals)
            write((read() & ~kFlushDenormals) | (saved_ & kFlushDenormals));
    }
    FlushDenormals(const FlushDenormals&) = delete;
    FlushDenormals& operator=(const FlushDenormals&) = delete;

private:
    Word saved_;
};

}  // namespace attnlab::fp_mode
