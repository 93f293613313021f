// lowbit's one rule for when a C++ kernel (native/*.cc) threads its loop with OpenMP.
#pragma once
#include <cstddef>

namespace lowbit {

// Below this many units of work (elements for elementwise and per-channel kernels) a kernel runs on
// one thread: an OpenMP region then costs more than the second thread saves. Measured on a 2-core
// AMD EPYC (bench/omp-threshold-probe.mjs; bench/results/vs-pytorch/maxpool-threads-notes.md): an
// elementwise add or relu of 32768 floats took 10 µs on one thread and 5.5–8 µs on two, 65536 took
// 19 µs and 6–13 µs, so the region pays from about here.
constexpr size_t kParallelMin = size_t(1) << 15;

// Kernels whose unit is much dearer than one float op scale the threshold down by their cost:
// native/relaxed.cc counts grid points (a sigmoid and a few selects each), kParallelMin / 8.
constexpr size_t parallelMinFor(size_t costPerUnit) { return kParallelMin / costPerUnit; }

}  // namespace lowbit
