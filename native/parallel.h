// lowbit's one rule for when a C++ kernel (native/*.cc) threads its loop with OpenMP.
#pragma once
#include <omp.h>
#include <cstddef>
#include <vector>

namespace lowbit {

// Below this many units of work (elements for elementwise and per-channel kernels) a kernel runs on
// one thread. Alone, a threaded add or relu pays from about 2^15 floats on this 2-core AMD EPYC
// (bench/omp-threshold-probe.mjs: 32768 floats 10 µs on one thread, 5.5–8 on two). Inside a
// training step it pays far later: between kernels the OpenMP worker stops spinning and sleeps
// (src/backend/native.ts OMP_SPIN_COUNT), and each region then pays its wake-up and, when another
// process runs, a wait for the core; mobilenet-tiny's b64 step (all its tensors 100k–200k floats)
// at 2 threads took 68/31/25/29 ms with 2^18 against 73/36/28/30 with 2^15 in alternating rounds,
// vgg-small's 109/113/98/102 against 251/104/98/142 (bench/results/vs-pytorch/maxpool-threads-notes.md).
constexpr size_t kParallelMin = size_t(1) << 18;

// Kernels whose unit is much dearer than one float op scale the threshold down by their cost:
// native/relaxed.cc counts grid points (a sigmoid and a few selects each), kParallelMin / 8.
// Per-thread partial sums (LSQ's ∂s, PReLU's ∂α) depend on the thread count a call uses, so results
// are the same for the same OMP_NUM_THREADS and size, as before.
constexpr size_t parallelMinFor(size_t costPerUnit) { return kParallelMin / costPerUnit; }

// oneDNN convolutions and matmuls (native/dnnl_addon.cc) under this many multiply-adds run on one
// thread. mobilenet-tiny's at batch 64 (3M–13M each) ran slower on two threads than on one inside
// a training step (FusedConv2D 1.9 ms per step on one thread, 2.6–4.6 on two); vgg-small's (600M
// and more) gain. The value sits between the two, not at a measured break-even.
constexpr double kDnnlParallelMin = 32e6;

// A threaded reduction's per-thread partials: body(part) runs on each thread of a parallel region
// (on one thread unless `par`) with that thread's own copy of `init`, and the partials come back
// indexed by thread, for the caller to add in thread order. (An `omp critical` adds them in the
// order the threads finish, so with more than two threads a sum's last bits would depend on
// scheduling; same thread count → same numbers needs the fixed order.) The body may hold an
// orphaned `#pragma omp for`.
template <typename Part, typename Body>
std::vector<Part> perThreadParts(bool par, const Part& init, Body body) {
  std::vector<Part> parts(par ? static_cast<size_t>(omp_get_max_threads()) : 1, init);
  #pragma omp parallel if (par)
  body(parts[static_cast<size_t>(omp_get_thread_num())]);
  return parts;
}

// out[i] += Σ_t parts[t][i], the threads in order (perThreadParts' partials of a sum).
template <typename T>
void addParts(const std::vector<std::vector<T>>& parts, T* out) {
  for (const auto& part : parts)
    for (size_t i = 0; i < part.size(); i++) out[i] += part[i];
}

}  // namespace lowbit
