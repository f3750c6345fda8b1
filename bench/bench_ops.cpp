// Op benchmarks: decode-shaped matrix-vector products and prefill-shaped matrix products for
// each weight format, attention over 512 and 2048 cached tokens, beside the device's measured
// copy bandwidth. Prints one row per case; --json prints one JSON object per line instead.
//
//   vkllm_bench_ops [--quick] [--json] [--filter SUBSTRING] [--shape NxK ...] [--rows M ...]
// --rows replaces the token counts of the matrix products (default 1 and 512; 64 with --quick).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "sdk/io.h"
#include "sdk/kv_cache.h"
#include "sdk/ops/attention.h"
#include "sdk/ops/matmul.h"
#include "sdk/quant.h"
#include "sdk/vk/device.h"
#include "sdk/vk/graph.h"

using namespace vkllm;
using sdk::Tensor;

namespace {

bool g_json = false;
std::string g_filter;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds of one repetition: `record` adds `reps` independent ops to a graph.
double time_graph(const std::shared_ptr<sdk::Device>& dev, int reps, int trials,
                  const std::function<void(sdk::Graph&)>& record) {
  std::vector<double> t;
  for (int i = 0; i < trials + 1; ++i) {
    sdk::Graph g(dev);
    for (int r = 0; r < reps; ++r) record(g);
    double t0 = now_s();
    g.run();
    if (i > 0) t.push_back((now_s() - t0) / reps);  // first run warms pipelines up
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void report(const std::string& name, double sec, double bytes, double flops, double copy_gbs) {
  double gbs = bytes / sec / 1e9, gflops = flops / sec / 1e9;
  if (g_json) {
    fmt::print(
        "{{\"case\": \"{}\", \"ms\": {:.4f}, \"GB_per_s\": {:.3f}, \"GFLOP_per_s\": {:.3f}, "
        "\"fraction_of_copy_bw\": {:.3f}}}\n",
        name, sec * 1e3, gbs, gflops, copy_gbs > 0 ? gbs / copy_gbs : 0.0);
  } else {
    fmt::print("{:<38} {:>9.3f} ms {:>8.2f} GB/s {:>8.2f} GFLOP/s {:>6.0f}% of copy\n", name,
               sec * 1e3, gbs, gflops, copy_gbs > 0 ? 100.0 * gbs / copy_gbs : 0.0);
  }
  std::fflush(stdout);
}

Tensor make_weight(const std::shared_ptr<sdk::Device>& dev, Dtype dt, int64_t N, int64_t K) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0, 0.02f);
  std::vector<float> w(size_t(N * K));
  for (auto& x : w) x = d(rng);
  if (is_quantized(dt))
    return sdk::upload_quant(dev->weights(), sdk::quantize(dt, w.data(), N, K, 64));
  Tensor t = Tensor::allocate_weight(dev->weights(), dt, N, K);
  sdk::upload_f32(t, w);
  return t;
}

double weight_bytes(Dtype dt, int64_t N, int64_t K) {
  if (is_quantized(dt)) {
    int group = (dt == Dtype::q8_0 || dt == Dtype::q4_0) ? 32 : 64;
    double per = quant_bits(dt) / 8.0 + 2.0 / group +
                 ((dt == Dtype::mlx4 || dt == Dtype::mlx8) ? 2.0 / group : 0);
    return double(N) * double(K) * per;
  }
  return double(N) * double(K) * double(dtype_size(dt));
}

bool wanted(const std::string& name) {
  return g_filter.empty() || name.find(g_filter) != std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  struct Shape {
    int64_t N, K;
  };
  std::vector<Shape> custom;
  std::vector<int64_t> rows;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick")
      quick = true;
    else if (a == "--json")
      g_json = true;
    else if (a == "--filter" && i + 1 < argc)
      g_filter = argv[++i];
    else if (a == "--shape" && i + 1 < argc) {
      long long n = 0, k = 0;
      if (std::sscanf(argv[++i], "%lldx%lld", &n, &k) != 2 || n <= 0 || k <= 0) {
        fmt::print(stderr, "--shape wants NxK (weight rows x columns), got '{}'\n", argv[i]);
        return 2;
      }
      custom.push_back({n, k});
    } else if (a == "--rows" && i + 1 < argc) {
      long long m = 0;
      if (std::sscanf(argv[++i], "%lld", &m) != 1 || m <= 0) {
        fmt::print(stderr, "--rows wants a positive token count, got '{}'\n", argv[i]);
        return 2;
      }
      rows.push_back(m);
    } else {
      fmt::print(stderr,
                 "usage: vkllm_bench_ops [--quick] [--json] [--filter SUBSTRING] [--shape NxK "
                 "...] [--rows M ...]\n");
      return 2;
    }
  }
  auto dev = sdk::Device::create();
  const auto& f = dev->features();
  if (!g_json) {
    fmt::print("device: {} ({}), kernels: {}\n", f.name, f.driver,
               dev->kernel_class() == KernelClass::cpu ? "cpu" : "gpu");
  }
  int trials = quick ? 2 : 5;

  // Copy bandwidth: bytes read + bytes written per second by vkCmdCopyBuffer.
  int64_t copy_n = quick ? (32 << 20) : (128 << 20);
  Tensor src = Tensor::allocate(dev->weights(), Dtype::i32, {copy_n / 4});
  Tensor dst = Tensor::allocate(dev->weights(), Dtype::i32, {copy_n / 4});
  double copy_s =
      time_graph(dev, 4, trials, [&](sdk::Graph& g) { g.copy_bytes(src, dst, uint64_t(copy_n)); });
  double copy_gbs = 2.0 * double(copy_n) / copy_s / 1e9;
  report(fmt::format("copy {} MiB (read+write)", copy_n >> 20), copy_s, 2.0 * double(copy_n), 0,
         copy_gbs);

  std::vector<Shape> shapes = {{4096, 4096}, {11008, 4096}};
  if (quick) shapes = {{4096, 4096}};
  if (!custom.empty()) shapes = custom;
  for (Dtype dt : {Dtype::f16, Dtype::q8_0, Dtype::q4_0, Dtype::mlx4}) {
    for (auto s : shapes) {
      std::string base = fmt::format("{} {}x{}", dtype_name(dt), s.N, s.K);
      if (!wanted("matvec " + base) && !wanted("matmul " + base)) continue;
      Tensor w = make_weight(dev, dt, s.N, s.K);
      if (rows.empty()) rows = {1, quick ? 64 : 512};
      for (int64_t M : rows) {
        std::string name = fmt::format("{} {} M={}", M == 1 ? "matvec" : "matmul", base, M);
        if (!wanted(name)) continue;
        Tensor x = Tensor::allocate(dev->weights(), Dtype::f32, {M, s.K});
        std::vector<float> xv(size_t(M * s.K), 0.01f);
        sdk::upload_f32(x, xv);
        int reps = M <= 16 ? 10 : 1;
        double sec = time_graph(dev, reps, trials, [&](sdk::Graph& g) { ops::matmul(g, x, w); });
        report(name, sec, weight_bytes(dt, s.N, s.K) + double(M * s.K * 4),
               2.0 * double(M) * double(s.N) * double(s.K), copy_gbs);
      }
    }
  }

  // Attention: one decode query (32 heads, 8 kv heads, dim 128) and a 512-token prefill chunk.
  for (int64_t ctx : {int64_t(512), int64_t(2048)}) {
    int64_t Hq = 32, Hkv = 8, D = 128;
    sdk::KvCache cache(dev, {{int(Hkv), int(D), 0}}, {.block_size = 16, .max_tokens = ctx + 16});
    auto seq = cache.create();
    {
      sdk::Graph g(dev);
      cache.begin(g, seq, int(ctx));
      g.run();
    }
    for (int64_t T : {int64_t(1), int64_t(quick ? 32 : 128)}) {
      std::string name = fmt::format("attention ctx={} T={} 32x128 gqa4", ctx, T);
      if (!wanted(name)) continue;
      Tensor q = Tensor::allocate(dev->weights(), Dtype::f32, {T, Hq, D});
      sdk::upload_f32(q, std::vector<float>(size_t(T * Hq * D), 0.01f));
      Tensor qpos = Tensor::allocate(dev->weights(), Dtype::i32, {T});
      std::vector<int32_t> pv(static_cast<size_t>(T));
      for (int64_t i = 0; i < T; ++i) pv[size_t(i)] = int32_t(ctx - T + i);
      sdk::upload_i32(qpos, pv);
      // A step view over the existing tokens (no new tokens written).
      sdk::Graph setup(dev);
      auto fork = cache.fork(seq);
      cache.truncate(fork, ctx - 1);
      auto step = cache.begin(setup, fork, 1);
      setup.run();
      auto view = cache.layer(step, 0);
      double sec = time_graph(dev, T == 1 ? 10 : 1, trials, [&](sdk::Graph& g) {
        ops::attention(g, q, view, qpos, {.scale = 0.088f});
      });
      double kv_bytes = double(ctx) * double(Hkv * D) * 2 * 2;
      double flops = 4.0 * double(T) * double(Hq) * double(ctx) * double(D);
      report(name, sec, kv_bytes, flops, copy_gbs);
      cache.release(fork);
    }
  }
  return 0;
}
