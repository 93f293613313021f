# tanh_f32's accuracy and speed (bench/tanh-ulp.cc), with the function taken from native/fakequant.cc
# and compiled as binding.gyp compiles the addon (-O3 -fno-trapping-math, baseline x86-64).
cd /work/main
echo "# $(git rev-parse --short=12 HEAD) $(git status --short | grep -v '^??' | wc -l) modified; load $(cat /proc/loadavg)"
d=$(mktemp -d)
{ echo '#include "expf.h"'; sed -n '/^inline float tanh_f32/,/^}/p' native/fakequant.cc; } > $d/tanh_f32.inc
g++ -O3 -std=c++17 -fno-trapping-math -I $d -I native -o $d/tanh-ulp bench/tanh-ulp.cc && $d/tanh-ulp
rm -rf $d
