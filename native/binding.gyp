{
  "targets": [
    {
      "target_name": "lowbit_dnnl",
      "sources": ["dnnl_addon.cc", "relaxed.cc", "fakequant.cc", "train_ops.cc", "bitops.cc", "dq.cc"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fopenmp", "-fno-trapping-math"]
    }
  ]
}
