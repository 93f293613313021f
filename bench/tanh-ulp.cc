// Accuracy of native/fakequant.cc's tanh_f32 against the correctly rounded float tanh (double
// tanh rounded to float) and against libm's tanhf, over every 37th positive float and its negation,
// plus special values; then its time against tanhf on 425k weights. Built by
// bench/results/dorefa-tanh/ulp.sh, which pastes tanh_f32 from native/fakequant.cc in here.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <vector>
#include <chrono>
#include <initializer_list>
#include "tanh_f32.inc"
static int64_t ord(float f) { int32_t i; std::memcpy(&i, &f, 4); return i < 0 ? -static_cast<int64_t>(i & 0x7fffffff) : i; }
int main() {
  int64_t maxUlp = 0, maxUlpStd = 0; double worst = 0; long diff = 0, total = 0;
  for (uint32_t b = 0; b < 0x7f800000u; b += 37) {
    float x; std::memcpy(&x, &b, 4);
    for (float s : {x, -x}) {
      const float t = tanh_f32(s), r = static_cast<float>(std::tanh(static_cast<double>(s)));
      const int64_t u = llabs(ord(t) - ord(r)); if (u > maxUlp) { maxUlp = u; worst = s; }
      const int64_t us = llabs(ord(std::tanh(s)) - ord(r)); if (us > maxUlpStd) maxUlpStd = us;
      total++; diff += t != std::tanh(s);
    }
  }
  printf("tanh_f32: max %lld ulp from the correctly rounded tanh (at %g); libm tanhf: max %lld ulp; the two differ on %ld of %ld inputs\n",
         static_cast<long long>(maxUlp), worst, static_cast<long long>(maxUlpStd), diff, total);
  printf("tanh_f32(NaN) %g, (+inf) %g, (-inf) %g, (1e-40) %g, (-0) %g\n", tanh_f32(NAN), tanh_f32(INFINITY), tanh_f32(-INFINITY), tanh_f32(1e-40f), tanh_f32(-0.f));
  std::vector<float> w(425000), t(425000, 0.f);
  for (size_t i = 0; i < w.size(); i++) w[i] = std::sin(i * 0.37f) * 0.3f;
  for (int k = 0; k < 2; k++) {
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < 20; r++) { w[r] += 1e-3f; for (size_t i = 0; i < w.size(); i++) t[i] += tanh_f32(w[i]); }
    auto t1 = std::chrono::steady_clock::now();
    for (int r = 0; r < 20; r++) { w[r] += 1e-3f; for (size_t i = 0; i < w.size(); i++) t[i] += std::tanh(w[i]); }
    auto t2 = std::chrono::steady_clock::now();
    printf("425k weights, one thread: tanh_f32 %.3f ms, libm tanhf %.3f ms\n", std::chrono::duration<double, std::milli>(t1 - t0).count() / 20,
           std::chrono::duration<double, std::milli>(t2 - t1).count() / 20);
  }
  double sum = 0; for (float v : t) sum += v;
  printf("(checksum %g)\n", sum);
}
