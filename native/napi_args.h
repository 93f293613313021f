// The (heap, params) argument pair every lowbit kernel entry takes: the wasm heap's ArrayBuffer
// and an Int32Array of sizes and heap offsets (native/train_ops.cc, native/dq.cc).
#pragma once
#include <node_api.h>
#include <cstdint>

namespace lowbit {

inline bool ReadArgs(napi_env env, napi_callback_info info, uint8_t** heap, const int32_t** params, size_t* n) {
  size_t argc = 2; napi_value argv[2];
  void* data; size_t len; napi_typedarray_type type; void* pdata; napi_value ab; size_t off;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2
      || napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok
      || napi_get_typedarray_info(env, argv[1], &type, n, &pdata, &ab, &off) != napi_ok || type != napi_int32_array) return false;
  *heap = static_cast<uint8_t*>(data);
  *params = static_cast<const int32_t*>(pdata);
  return true;
}

}  // namespace lowbit
