// Writes the toy_bigram model folder (config.json, model.safetensors) and the greedy chain it
// must produce from token 3 (expected.txt), computed here on the host.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::string dir = argv[1];
  const int V = 11, D = 8;
  std::vector<float> e(V * D), o(V * D);
  uint32_t s = 12345;
  auto rnd = [&] {
    s = s * 1664525u + 1013904223u;
    return float(int(s >> 9) % 2001 - 1000) / 1000.0f;
  };
  for (auto& x : e) x = rnd();
  for (auto& x : o) x = rnd();
  std::ofstream(dir + "/config.json")
      << "{\"model_type\": \"toy_bigram\", \"vocab_size\": 11, \"hidden_size\": 8}\n";
  std::string header =
      "{\"embed.weight\":{\"dtype\":\"F32\",\"shape\":[11,8],\"data_offsets\":[0,352]},"
      "\"out.weight\":{\"dtype\":\"F32\",\"shape\":[11,8],\"data_offsets\":[352,704]}}";
  while (header.size() % 8) header += ' ';
  std::ofstream f(dir + "/model.safetensors", std::ios::binary);
  uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(header.data(), long(n));
  f.write(reinterpret_cast<const char*>(e.data()), long(e.size() * 4));
  f.write(reinterpret_cast<const char*>(o.data()), long(o.size() * 4));
  std::ofstream exp(dir + "/expected.txt");
  int id = 3;
  for (int step = 0; step < 4; ++step) {
    int best = 0;
    float best_v = -1e30f;
    for (int j = 0; j < V; ++j) {
      float d = 0;
      for (int k = 0; k < D; ++k) d += o[size_t(j * D + k)] * e[size_t(id * D + k)];
      if (d > best_v) best_v = d, best = j;
    }
    exp << (step ? "," : "") << best;
    id = best;
  }
  exp << "\n";
  return 0;
}
