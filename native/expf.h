// Cephes expf's polynomial, shared by the vectorised kernels that need e^x without a libm call
// (native/relaxed.cc vexpNeg on 8-float vectors, native/fakequant.cc tanh_f32 on floats).
#pragma once

namespace lowbit {

// e^r·… after the range reduction: given x and n = rint(x·log2 e), returns e^(x − n·ln 2) from
// Cephes' two-constant reduction and degree-6 polynomial (relative error under 2e-7); the caller
// scales by 2^n. T is float or a GCC vector of floats (the same operations, lane by lane).
template <typename T>
inline __attribute__((always_inline)) T expReduced(T x, T n) {
  T r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  T p = T{} + 1.9875691500e-4f;  // the constant in every lane
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * (r * r) + r + 1.0f;
}

}  // namespace lowbit
