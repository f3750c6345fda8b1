// Quantizers of llama.cpp's K-quants and IQ4 formats, in the manner of its reference ones
// (ggml-quants.c, without an importance matrix): each group's integer values and scale (and
// min) are chosen by a least-squares search over candidate scales, the groups' scales are then
// quantized against one f16 scale per 256 values, and the values are requantized with the
// scales as stored. bench/RESULTS.md records their RMS error beside llama.cpp's.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "sdk/quant.h"

namespace vkllm::sdk::detail {
namespace {

int nearest(float x) { return int(std::lrintf(x)); }
float round_f16(float x) { return f16_to_f32(f32_to_f16(x)); }

// The value of largest magnitude (the first of equals), sign kept.
float signed_max(const float* x, int n) {
  float max = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > std::fabs(max)) max = x[i];
  return max;
}

// x ≈ scale * L - min with L in [0, nmax] and min >= 0, minimising the weighted squared (or
// absolute) error: starting from the range, tries inverse scales (nmax + rmin + i * rdelta) /
// range and solves the weighted least squares for scale and min at each assignment.
float fit_affine(const float* x, const float* w, int n, int nmax, uint8_t* L, float* min_out,
                 float rmin, float rdelta, int steps, bool abs_err) {
  float lo = x[0], hi = x[0], sw = 0, sx = 0;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sw += w[i];
    sx += w[i] * x[i];
  }
  lo = std::min(lo, 0.0f);
  if (hi == lo) {
    std::fill_n(L, n, 0);
    *min_out = -lo;
    return 0.0f;
  }
  auto error = [&](const uint8_t* l, float scale, float mn) {
    float e = 0;
    for (int i = 0; i < n; ++i) {
      float d = scale * float(l[i]) + mn - x[i];
      e += w[i] * (abs_err ? std::fabs(d) : d * d);
    }
    return e;
  };
  float scale = (hi - lo) / float(nmax), mn = lo;
  for (int i = 0; i < n; ++i) L[i] = uint8_t(std::clamp(nearest((x[i] - lo) / scale), 0, nmax));
  float best = error(L, scale, mn);
  uint8_t cand[32];
  for (int step = 0; step <= steps; ++step) {
    const float inv = (float(nmax) + rmin + rdelta * float(step)) / (hi - lo);
    float sl = 0, sl2 = 0, sxl = 0;
    for (int i = 0; i < n; ++i) {
      cand[i] = uint8_t(std::clamp(nearest(inv * (x[i] - lo)), 0, nmax));
      sl += w[i] * cand[i];
      sl2 += w[i] * float(cand[i]) * float(cand[i]);
      sxl += w[i] * float(cand[i]) * x[i];
    }
    const float det = sw * sl2 - sl * sl;
    if (det <= 0) continue;
    float s = (sw * sxl - sx * sl) / det, m = (sl2 * sx - sl * sxl) / det;
    if (m > 0) {  // a positive offset is not representable: fit the scale alone
      m = 0;
      s = sxl / sl2;
    }
    const float e = error(cand, s, m);
    if (e < best) {
      best = e;
      scale = s;
      mn = m;
      std::copy_n(cand, n, L);
    }
  }
  *min_out = -mn;
  return scale;
}

// x ≈ scale * l with l in [-nmax, nmax - 1], weighted by x²: the scale that puts the largest
// magnitude at -nmax, then 18 nearby inverse scales, keeping the best least-squares fit.
float fit_symmetric(const float* x, int n, int nmax) {
  const float max = signed_max(x, n);
  if (std::fabs(max) < 1e-15f) return 0.0f;
  float best_scale = 0, best = -1;
  for (int t = 0; t <= 18; ++t) {
    const float inv = -(float(nmax) + 0.1f * float(t == 0 ? 0 : t <= 9 ? t - 10 : t - 9)) / max;
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; ++i) {
      const float l = float(std::clamp(nearest(inv * x[i]), -nmax, nmax - 1));
      const float wi = x[i] * x[i];
      slx += wi * x[i] * l;
      sl2 += wi * l * l;
    }
    // The fit's error falls as slx² / sl2 rises.
    if (sl2 > 0 && (best < 0 || slx * slx > best * sl2)) {
      best_scale = slx / sl2;
      best = best_scale * slx;
    }
  }
  return best_scale;
}

// Like fit_symmetric for 3-bit values: one starting scale, then coordinate descent on the
// values (each moved to its best level for the others' fit) while the fit improves.
float fit_q3(const float* x, int n, int nmax) {
  const float max = signed_max(x, n);
  if (std::fabs(max) < 1e-15f) return 0.0f;
  const float inv = -float(nmax) / max;
  int l[32];
  float slx = 0, sl2 = 0;
  for (int i = 0; i < n; ++i) {
    l[i] = std::clamp(nearest(inv * x[i]), -nmax, nmax - 1);
    const float wi = x[i] * x[i];
    slx += wi * x[i] * float(l[i]);
    sl2 += wi * float(l[i] * l[i]);
  }
  for (int round = 0; round < 5; ++round) {
    bool changed = false;
    for (int i = 0; i < n; ++i) {
      const float wi = x[i] * x[i];
      float a = slx - wi * x[i] * float(l[i]), b = sl2 - wi * float(l[i] * l[i]);
      if (a <= 0) continue;
      const int nl = std::clamp(nearest(x[i] * b / a), -nmax, nmax - 1);
      if (nl == l[i]) continue;
      a += wi * x[i] * float(nl);
      b += wi * float(nl * nl);
      if (b > 0 && a * a * sl2 > slx * slx * b) {
        l[i] = nl;
        slx = a;
        sl2 = b;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return sl2 > 0 ? slx / sl2 : 0.0f;
}

// The IQ4 table entry nearest to x.
uint8_t table_index(float x) {
  int best = 0;
  for (int i = 1; i < 16; ++i)
    if (std::fabs(x - float(kIq4Values[i])) < std::fabs(x - float(kIq4Values[best]))) best = i;
  return uint8_t(best);
}

// x ≈ scale * table[L], weighted by x²: 15 candidate scales around the one mapping the largest
// magnitude to the table's end, each refit by least squares.
float fit_table(const float* x, int n) {
  const float max = signed_max(x, n);
  if (std::fabs(max) < 1e-15f) return 0.0f;
  auto fit = [&](float inv, float* sqx, float* sq2) {
    *sqx = *sq2 = 0;
    for (int i = 0; i < n; ++i) {
      const float q = float(kIq4Values[table_index(inv * x[i])]), wi = x[i] * x[i];
      *sqx += wi * q * x[i];
      *sq2 += wi * q * q;
    }
  };
  float sqx, sq2;
  fit(-float(kIq4Values[0]) / max, &sqx, &sq2);
  float d = sq2 > 0 ? sqx / sq2 : 0.0f, best = d * sqx;
  for (int t = -7; t <= 7; ++t) {
    fit((float(t) + float(kIq4Values[0])) / max, &sqx, &sq2);
    if (sq2 > 0 && sqx * sqx > best * sq2) {
      d = sqx / sq2;
      best = d * sqx;
    }
  }
  return d;
}

// Sub-scales of one super-block against one f16 super scale: sub = round(scale / d) within
// [lo, hi], with d chosen so that the largest (signed) scale lands on `target`.
float quantize_scales(const float* scales, int groups, float target, int lo, int hi, int8_t* sub) {
  const float max = signed_max(scales, groups);
  if (max == 0) {
    std::fill_n(sub, groups, int8_t(0));
    return 0.0f;
  }
  const float inv = target / max;
  for (int g = 0; g < groups; ++g) sub[g] = int8_t(std::clamp(nearest(inv * scales[g]), lo, hi));
  return round_f16(1.0f / inv);
}

}  // namespace

void quantize_super(QuantHost& q, const float* w) {
  const Dtype dt = q.dtype;
  const QuantFormat f = quant_format(dt);
  const int G = q.group, groups = kSuperBlock / G;
  const int nmax = (1 << quant_bits(dt)) - 1;
  for (int64_t b = 0; b < q.rows * q.cols / kSuperBlock; ++b) {
    const float* x = w + b * kSuperBlock;
    uint8_t* v = q.values.data() + b * kSuperBlock;
    int8_t* sub = q.sub_scales.data() + b * groups;
    float scales[16], mins[16];
    uint8_t L[32];
    if (f.bias) {  // q2_k, q4_k, q5_k: x ≈ d·sc·v - dmin·m
      const bool two = dt == Dtype::q2_k;
      for (int g = 0; g < groups; ++g) {
        const float* xg = x + g * G;
        float wt[32], ss = 0;
        for (int i = 0; i < G; ++i) ss += xg[i] * xg[i];
        const float av = std::sqrt(ss / float(G));
        for (int i = 0; i < G; ++i) wt[i] = two ? std::fabs(xg[i]) : av + std::fabs(xg[i]);
        const bool four = dt == Dtype::q4_k;
        scales[g] = fit_affine(xg, wt, G, nmax, L, &mins[g], four ? -1.0f : -0.5f, 0.1f,
                               four ? 20 : 15, two);
      }
      const int top = two ? 15 : 63;
      int8_t* subm = q.sub_mins.data() + b * groups;
      q.supers[size_t(b)] = quantize_scales(scales, groups, float(top), 0, top, sub);
      q.super_mins[size_t(b)] = quantize_scales(mins, groups, float(top), 0, top, subm);
      for (int g = 0; g < groups; ++g) {
        const float d = q.supers[size_t(b)] * float(sub[g]);
        const float dm = q.super_mins[size_t(b)] * float(subm[g]);
        for (int i = 0; i < G; ++i)
          v[g * G + i] =
              d == 0 ? 0 : uint8_t(std::clamp(nearest((x[g * G + i] + dm) / d), 0, nmax));
      }
    } else if (f.table) {  // iq4_xs: x ≈ d·sc·table[v]
      for (int g = 0; g < groups; ++g) scales[g] = fit_table(x + g * G, G);
      q.supers[size_t(b)] = quantize_scales(scales, groups, -32.0f, -32, 31, sub);
      for (int g = 0; g < groups; ++g) {
        const float d = q.supers[size_t(b)] * float(sub[g]), inv = d != 0 ? 1.0f / d : 0.0f;
        for (int i = 0; i < G; ++i) v[g * G + i] = table_index(inv * x[g * G + i]);
      }
    } else {  // q3_k, q6_k: x ≈ d·sc·(v - zero_point)
      const bool six = dt == Dtype::q6_k;
      const int half = f.zero_point;
      for (int g = 0; g < groups; ++g)
        scales[g] = six ? fit_symmetric(x + g * G, G, half) : fit_q3(x + g * G, G, half);
      q.supers[size_t(b)] = six ? quantize_scales(scales, groups, -128.0f, -128, 127, sub)
                                : quantize_scales(scales, groups, -32.0f, -32, 31, sub);
      for (int g = 0; g < groups; ++g) {
        const float d = q.supers[size_t(b)] * float(sub[g]);
        for (int i = 0; i < G; ++i)
          v[g * G + i] =
              d == 0 ? uint8_t(half)
                     : uint8_t(std::clamp(nearest(x[g * G + i] / d), -half, half - 1) + half);
      }
    }
  }
}

void quantize_iq4_nl(QuantHost& q, const float* w) {
  for (int64_t b = 0; b < q.rows * q.cols / 32; ++b) {
    const float* x = w + b * 32;
    const float d = fit_table(x, 32), inv = d != 0 ? 1.0f / d : 0.0f;
    q.scales[size_t(b)] = round_f16(d);
    for (int i = 0; i < 32; ++i) q.values[size_t(b * 32 + i)] = table_index(inv * x[i]);
  }
}

}  // namespace vkllm::sdk::detail
