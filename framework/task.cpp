// task.cpp — the per-thread pool of coroutine frames (see FramePool in task.h).
#include "framework/task.h"

#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define DESTSIM_FRAME_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DESTSIM_FRAME_POOL 0
#endif
#endif
#ifndef DESTSIM_FRAME_POOL
#define DESTSIM_FRAME_POOL 1
#endif

namespace destsim::detail {

#if DESTSIM_FRAME_POOL
namespace {
constexpr std::size_t kStep = 64;
constexpr std::size_t kClasses = 64;  // frames up to 4 KiB
constexpr std::size_t kKept = 256;    // free frames kept per class

struct FreeFrame {
  FreeFrame* next;
};

struct Pool {
  FreeFrame* head[kClasses] = {};
  std::size_t count[kClasses] = {};
  ~Pool() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (FreeFrame* f = head[c]) {
        head[c] = f->next;
        ::operator delete(f);
      }
    }
  }
};

thread_local Pool pool;  // per thread: no lock, no sharing

std::size_t class_of(std::size_t n) { return (n + kStep - 1) / kStep - 1; }
}  // namespace

void* FramePool::allocate(std::size_t n) {
  const std::size_t c = class_of(n);
  if (c >= kClasses) return ::operator new(n);
  Pool& p = pool;
  if (FreeFrame* f = p.head[c]) {
    p.head[c] = f->next;
    --p.count[c];
    return f;
  }
  return ::operator new((c + 1) * kStep);
}

void FramePool::deallocate(void* ptr, std::size_t n) noexcept {
  const std::size_t c = class_of(n);
  if (c >= kClasses) {
    ::operator delete(ptr);
    return;
  }
  Pool& p = pool;
  if (p.count[c] >= kKept) {
    ::operator delete(ptr);
    return;
  }
  auto* f = static_cast<FreeFrame*>(ptr);
  f->next = p.head[c];
  p.head[c] = f;
  ++p.count[c];
}
#else
void* FramePool::allocate(std::size_t n) { return ::operator new(n); }
void FramePool::deallocate(void* ptr, std::size_t) noexcept { ::operator delete(ptr); }
#endif

}  // namespace destsim::detail
