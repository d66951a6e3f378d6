#include "threads.hpp"

#include "attnlab/api.hpp"
#include "fp_mode.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace attnlab::threads {
namespace {

thread_local bool inside_pool = false;

// Marks the current thread as running pool tasks for its lifetime, and puts back what it was
// before: a task on the calling thread that itself calls parallel_for must still be inside the
// pool after that inner call returns.
class InsidePool {
public:
    InsidePool() : was_(inside_pool) { inside_pool = true; }
    ~InsidePool() { inside_pool = was_; }
    InsidePool(const InsidePool&) = delete;
    InsidePool& operator=(const InsidePool&) = delete;

private:
    bool was_;
};

// The CPUs this thread may run on, in order; none known where the OS has no affinity masks
// (macOS), so no worker is bound there.
std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
            if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
#endif
    return cpus;
}

// Keeps the calling thread on `cpu`. A worker left free is woken onto its waker's core (the
// caller's), where the two take turns, whenever another library's idle thread spins on the
// other core (torch's OpenMP workers do for a few ms after each call): a call then takes
// as long as a serial one. Bound, the worker shares that core with the spinner instead.
void bind_to(int cpu) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);  // best effort: unbound is still correct
#else
    (void)cpu;  // never called: allowed_cpus() knows no CPU here
#endif
}

int usable_cores() {
    const std::size_t n = allowed_cpus().size();
    if (n > 0) return static_cast<int>(n);
    const unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
}

int default_threads() {
    if (const char* env = std::getenv("ATTNLAB_NUM_THREADS")) {
        char* end = nullptr;
        long n = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && n >= 1 && n <= 1024) return static_cast<int>(n);
    }
    return usable_cores();
}

struct Job {
    std::int64_t n = 0;
    const std::function<void(std::int64_t, int)>* body = nullptr;
    std::atomic<std::int64_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::exception_ptr error;

    void work(int worker) {
        for (;;) {
            std::int64_t task = next.fetch_add(1, std::memory_order_relaxed);
            if (task >= n || failed.load(std::memory_order_relaxed)) return;
            try {
                (*body)(task, worker);
            } catch (...) {
                std::lock_guard<std::mutex> lock(error_mutex);
                if (!error) error = std::current_exception();
                failed = true;
            }
        }
    }
};

class Pool {
public:
    // Never destroyed (see pool()): workers idle at exit, and a forked child's inherited pool
    // has threads that cannot be joined.
    explicit Pool(int threads) { start(threads); }

    // Read without the run lock (get_num_threads from any thread): written only by start and
    // stop, under it.
    int size() const { return size_.load(std::memory_order_acquire); }

    void resize(int threads) {
        std::lock_guard<std::mutex> run(run_mutex_);
        stop();
        start(threads);
    }

    void run(std::int64_t n, const std::function<void(int)>* prepare,
             const std::function<void(std::int64_t, int)>& body) {
        Job job;
        job.n = n;
        job.body = &body;
        // Holding run_mutex_ fixes the worker count (resize takes it too) until the job is done.
        std::unique_lock<std::mutex> run(run_mutex_, std::defer_lock);
        const bool parallel = n > 1 && !inside_pool && run.try_lock() && !workers_.empty();
        if (!parallel && run.owns_lock()) run.unlock();
        if (prepare) (*prepare)(parallel ? static_cast<int>(workers_.size()) + 1 : 1);
        {
            // The caller's thread computes tasks as the workers do, in their mode: what a task
            // computes must not depend on the thread that runs it.
            fp_mode::FlushDenormals flush;
            InsidePool inside;
            if (parallel) {
                {
                    std::lock_guard<std::mutex> lock(mutex_);
                    job_ = &job;
                    ++generation_;
                }
                wake_.notify_all();
                job.work(0);
                // Closes the job: a worker that wakes only now (descheduled while another
                // library's threads spin on the cores) finds none and is not waited for; the
                // caller waits only for workers still inside a task they took.
                {
                    std::lock_guard<std::mutex> lock(mutex_);
                    job_ = nullptr;
                }
                spin_until([this] { return joined_.load(std::memory_order_acquire) == 0; });
                std::unique_lock<std::mutex> lock(mutex_);
                done_.wait(lock, [this] { return joined_ == 0; });
            } else {
                job.work(0);
            }
        }
        if (job.error) std::rethrow_exception(job.error);
    }

private:
    void start(int threads) {
        stopping_ = false;
        // A worker must not miss a job posted before it first looks: it starts from the
        // generation current now, not from whatever it reads once running.
        std::uint64_t generation = generation_;
        // Worker `id` on the id-th allowed CPU, the first left to the caller; with more threads
        // than CPUs, none is bound (the scheduler spreads them).
        const std::vector<int> cpus = allowed_cpus();
        const bool bind = threads <= static_cast<int>(cpus.size());
        try {
            for (int id = 1; id < threads; ++id) {
                const int cpu = bind ? cpus[id] : -1;
                workers_.emplace_back([this, id, cpu, generation] {
                    if (cpu >= 0) bind_to(cpu);
                    loop(id, generation);
                });
            }
        } catch (...) {  // no more threads to be had: keep the ones started, and say so
            size_.store(static_cast<int>(workers_.size()) + 1, std::memory_order_release);
            throw;
        }
        size_.store(threads, std::memory_order_release);
    }

    void stop() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
        workers_.clear();
        size_.store(1, std::memory_order_release);
    }

    void loop(int id, std::uint64_t seen) {
        inside_pool = true;
        // A worker runs nothing but kernel tasks: it keeps their mode for good.
        fp_mode::write(fp_mode::read() | fp_mode::kFlushDenormals);
        for (;;) {
            spin_until([&] {
                return generation_.load(std::memory_order_acquire) != seen ||
                       stopping_.load(std::memory_order_acquire);
            });
            Job* job;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
                if (stopping_) return;
                seen = generation_;
                job = job_;  // null when its caller already finished it alone
                if (job) ++joined_;
            }
            if (!job) continue;
            job->work(id);
            std::lock_guard<std::mutex> lock(mutex_);
            if (--joined_ == 0) done_.notify_one();
        }
    }

    // Polls `ready` for up to kSpin before the caller sleeps on a condition variable: workers
    // waiting for the next job, the caller waiting for the last task. Back-to-back kernels (a
    // training step) then find the threads awake: waking a sleeping one costs a futex call
    // and, on a virtual machine, waking an idle vCPU. A (32, 4, 128, 32) attention took
    // 4.9 ms per call in runs of 4 calls against 2.7 ms in runs of 100 before this.
    template <class Ready>
    static void spin_until(Ready ready) {
        constexpr auto kSpin = std::chrono::microseconds(500);
        const auto until = std::chrono::steady_clock::now() + kSpin;
        while (!ready()) {
            for (int i = 0; i < 64; ++i) cpu_relax();
            if (std::chrono::steady_clock::now() >= until) return;
        }
    }

    static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }

    std::mutex run_mutex_;  // one parallel job at a time
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::vector<std::thread> workers_;
    std::atomic<int> size_{1};    // workers_.size() + 1
    Job* job_ = nullptr;          // the open job, taken by workers under mutex_
    std::atomic<int> joined_{0};  // workers inside the open job's tasks
    // Written under mutex_; atomic so that spinning threads may poll them without it.
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<bool> stopping_{false};
};

// The pool, made on first use. A child of fork() inherits the parent's pool without its
// threads (only the forking thread survives), so the child drops it, unjoined and never freed,
// and makes a fresh one of the same size on its first call.
std::mutex instance_mutex;
std::atomic<Pool*> instance{nullptr};
Pool* abandoned = nullptr;  // the parent's pool in a forked child, kept reachable
int threads_after_fork = 0;

void before_fork() { instance_mutex.lock(); }
void after_fork_in_parent() { instance_mutex.unlock(); }
void after_fork_in_child() {
    if (Pool* inherited = instance.exchange(nullptr)) {
        threads_after_fork = inherited->size();
        abandoned = inherited;
    }
    instance_mutex.unlock();
}

Pool& pool() {
    if (Pool* p = instance.load(std::memory_order_acquire)) return *p;
    std::lock_guard<std::mutex> lock(instance_mutex);
    if (!instance.load(std::memory_order_relaxed)) {
        static const bool registered =
            pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) == 0;
        if (!registered) throw std::runtime_error("attnlab: pthread_atfork failed");
        instance.store(new Pool(threads_after_fork > 0 ? threads_after_fork : default_threads()),
                       std::memory_order_release);
    }
    return *instance.load(std::memory_order_relaxed);
}

}  // namespace

void parallel_for(std::int64_t n, const std::function<void(std::int64_t, int)>& body) {
    if (n <= 0) return;
    pool().run(n, nullptr, body);
}

void parallel_for(std::int64_t n, const std::function<void(int)>& prepare,
                  const std::function<void(std::int64_t, int)>& body) {
    if (n <= 0) return;
    pool().run(n, &prepare, body);
}

}  // namespace attnlab::threads

namespace attnlab {

int get_num_threads() { return threads::pool().size(); }

void set_num_threads(int n) { threads::pool().resize(n < 1 ? 1 : n); }

}  // namespace attnlab
