// The one thread pool of the core. Work is handed out as independent task indices, so what
// a task computes never depends on which thread runs it or how many threads there are.
#pragma once

#include <cstdint>
#include <functional>

namespace attnlab::threads {

// Calls body(task, worker) for every task in [0, n). Blocks until all tasks ran, then rethrows
// the first exception a task threw. Runs serially when called from inside a task or while
// another call holds the pool.
void parallel_for(std::int64_t n, const std::function<void(std::int64_t, int)>& body);

// As above, after prepare(workers) on the calling thread: body then sees worker indices in
// [0, workers) only (workers = 1 when the call runs serially). The pool cannot be resized in
// between, so per-worker scratch sized by prepare fits whatever another thread does to the
// thread count meanwhile.
void parallel_for(std::int64_t n, const std::function<void(int)>& prepare,
                  const std::function<void(std::int64_t, int)>& body);

}  // namespace attnlab::threads
