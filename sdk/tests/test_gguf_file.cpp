// GgufFile: what GgufWriter writes reads back (metadata, shapes in ggml order, tensor bytes),
// and every damaged file is a ModelError that says what is wrong: each truncation, bad magic
// and version, counts and lengths beyond the file, duplicate keys and tensors, bad alignment,
// unknown types, rows that are not whole blocks, overflowing shapes, data beyond the end.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sdk/base/error.h"
#include "sdk/gguf.h"
#include "sdk/gguf_file.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;
using sdk::GgufFile;

std::vector<uint8_t> written(const sdk::GgufWriter& w) {
  const fs::path p = fs::temp_directory_path() / fmt::format("vkllm-gguf-{}.gguf", ::getpid());
  w.write(p.string());
  std::ifstream in(p, std::ios::binary);
  std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), {});
  fs::remove(p);
  return b;
}

std::vector<uint8_t> sample_file() {
  sdk::GgufWriter w;
  w.kv("general.architecture", std::string("llama"));
  w.kv("llama.block_count", uint32_t(2));
  w.kv("llama.rope.freq_base", 10000.0f);
  w.kv("tokenizer.ggml.add_bos_token", true);
  w.kv("tokenizer.ggml.tokens", std::vector<std::string>{"<s>", "a", "b"});
  w.kv("tokenizer.ggml.token_type", std::vector<int32_t>{3, 1, 1});
  std::vector<float> m(3 * 64);
  for (size_t i = 0; i < m.size(); ++i) m[i] = float(i % 7) - 3.0f;
  w.tensor("token_embd.weight", {3, 64}, m, Dtype::f32);
  w.tensor("blk.0.attn_q.weight", {3, 64}, m, Dtype::q8_0);
  w.tensor("output_norm.weight", {5}, std::vector<float>(5, 1.0f), Dtype::f16);
  return written(w);
}

// The error message of parsing `b`, or "" when it parses.
std::string parse_error(const std::vector<uint8_t>& b) {
  try {
    GgufFile::parse(b, "x.gguf");
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

// Offset of the first occurrence of `s` in b.
size_t find(const std::vector<uint8_t>& b, const std::string& s) {
  auto it = std::search(b.begin(), b.end(), s.begin(), s.end());
  EXPECT_NE(it, b.end()) << s;
  return size_t(it - b.begin());
}

template <class T>
void poke(std::vector<uint8_t>& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

TEST(GgufFile, ReadsWhatTheWriterWrote) {
  auto b = sample_file();
  GgufFile f = GgufFile::parse(b, "x.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.architecture(), "llama");
  EXPECT_EQ(f.integer("llama.block_count"), 2);
  EXPECT_FLOAT_EQ(float(f.number("llama.rope.freq_base")), 10000.0f);
  EXPECT_TRUE(f.boolean("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(f.array("tokenizer.ggml.tokens")[2], "b");
  EXPECT_EQ(f.integer("general.alignment"), 32);
  EXPECT_EQ(f.keys().front(), "general.architecture");
  ASSERT_EQ(f.tensors().size(), 3u);
  const auto* q = f.find("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->ne, (std::vector<int64_t>{64, 3}));  // innermost first
  EXPECT_EQ(q->type, uint32_t(sdk::GgmlType::q8_0));
  EXPECT_EQ(q->bytes, 3u * 2 * 34);
  EXPECT_EQ(q->rows(), 3);
  EXPECT_EQ(q->cols(), 64);
  const auto* e = f.find("token_embd.weight");
  auto data = f.data(*e);
  ASSERT_EQ(data.size(), 3u * 64 * 4);
  float v;
  std::memcpy(&v, data.data() + 4 * 10, 4);
  EXPECT_EQ(v, float(10 % 7) - 3.0f);
  EXPECT_EQ(f.find("output_norm.weight")->bytes, 10u);
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_EQ(f.data_offset() % 32, 0u);
}

TEST(GgufFile, TypedReadsNameTheKey) {
  auto b = sample_file();
  GgufFile f = GgufFile::parse(b, "x.gguf");
  EXPECT_THROW(
      {
        try {
          f.string("llama.block_count");
        } catch (const ModelError& e) {
          EXPECT_NE(std::string(e.what()).find("'llama.block_count' is an integer, not a string"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      ModelError);
  EXPECT_THROW(f.integer("llama.context_length"), ModelError);
  EXPECT_THROW(f.integer_in("llama.block_count", 3, 10), ModelError);
  EXPECT_THROW(f.boolean("general.architecture"), ModelError);
  EXPECT_THROW(f.array("general.architecture"), ModelError);
}

TEST(GgufFile, EveryTruncationIsAClearError) {
  auto b = sample_file();
  // The writer pads the last tensor to the alignment: cuts into that padding lose nothing.
  GgufFile whole = GgufFile::parse(b, "x.gguf");
  size_t end = 0;
  for (const auto& t : whole.tensors())
    end = std::max<size_t>(end, whole.data_offset() + t.offset + t.bytes);
  ASSERT_LE(end, b.size());
  for (size_t n = 0; n < end; ++n) {
    std::vector<uint8_t> cut(b.begin(), b.begin() + long(n));
    std::string err = parse_error(cut);
    ASSERT_FALSE(err.empty()) << "a file cut at " << n << " of " << b.size() << " bytes parsed";
    EXPECT_NE(err.find("x.gguf"), std::string::npos) << err;
  }
}

TEST(GgufFile, DamagedFilesSayWhatIsWrong) {
  const auto good = sample_file();
  auto expect_error = [&](std::vector<uint8_t> b, const std::string& want) {
    std::string err = parse_error(b);
    EXPECT_NE(err.find(want), std::string::npos) << "got: '" << err << "', want: " << want;
  };
  auto b = good;
  b[0] = 'X';
  expect_error(b, "not a GGUF file");
  b = good;
  poke<uint32_t>(b, 4, 7);
  expect_error(b, "GGUF version 7 is not supported");
  b = good;
  poke<uint64_t>(b, 8, uint64_t(1) << 40);  // tensor count
  expect_error(b, "tensors cannot be right");
  b = good;
  poke<uint64_t>(b, 16, uint64_t(1) << 40);  // metadata count
  expect_error(b, "metadata keys cannot be right");

  // A string length past the end.
  b = good;
  poke<uint64_t>(b, find(b, "general.architecture") - 8, uint64_t(1) << 50);
  expect_error(b, "truncated or corrupt");
  // The same key twice.
  {
    sdk::GgufWriter w;
    w.kv("general.architecture", std::string("llama"));
    w.kv("general.architecture", std::string("qwen2"));
    expect_error(written(w), "key 'general.architecture' appears twice");
  }
  // An unknown value type.
  b = good;
  poke<uint32_t>(b, find(b, "llama.block_count") + 17, 99);
  expect_error(b, "unknown value type 99");
  // A boolean that is neither 0 nor 1.
  b = good;
  b[find(b, "tokenizer.ggml.add_bos_token") + 28 + 4] = 7;
  expect_error(b, "boolean value 7");
  // An array longer than the file.
  b = good;
  poke<uint64_t>(b, find(b, "tokenizer.ggml.tokens") + 21 + 8, uint64_t(1) << 40);
  expect_error(b, "cannot fit");
  // Alignment that is not a power of two.
  b = good;
  poke<uint32_t>(b, find(b, "general.alignment") + 17 + 4, 48);
  expect_error(b, "not a power of two");

  // Tensor infos: after the name come n_dims, the dims, the type and the offset.
  const size_t q = find(good, "blk.0.attn_q.weight") + 19;
  b = good;
  poke<uint32_t>(b, q, 9);
  expect_error(b, "9 dimensions");
  b = good;
  poke<uint64_t>(b, q + 4, 0);
  expect_error(b, "dimension 0 is 0");
  b = good;
  poke<uint64_t>(b, q + 4, uint64_t(1) << 62);
  poke<uint64_t>(b, q + 12, uint64_t(1) << 62);
  expect_error(b, "overflowing");
  b = good;
  poke<uint64_t>(b, q + 4, 48);  // 48 columns of Q8_0
  expect_error(b, "not whole Q8_0 blocks of 32");
  b = good;
  poke<uint32_t>(b, q + 20, 5);
  expect_error(b, "unknown ggml type id 5");
  b = good;
  poke<uint64_t>(b, q + 24, 33);
  expect_error(b, "not a multiple of the alignment 32");
  b = good;
  poke<uint64_t>(b, q + 24, uint64_t(1) << 40);
  expect_error(b,
               "tensor 'blk.0.attn_q.weight' (204 bytes at data offset 1099511627776) lies "
               "beyond the end of the file");
  // Cutting the last tensor's data short.
  b = good;
  {
    GgufFile f = GgufFile::parse(good, "x.gguf");
    const auto* last = f.find("output_norm.weight");
    b.resize(f.data_offset() + last->offset + last->bytes - 1);
  }
  expect_error(b, "tensor 'output_norm.weight' (10 bytes at data offset");
  // A tensor name twice.
  {
    sdk::GgufWriter w;
    w.tensor("t", {4}, std::vector<float>(4, 1.0f), Dtype::f32);
    w.tensor("t", {4}, std::vector<float>(4, 1.0f), Dtype::f32);
    expect_error(written(w), "tensor 't' appears twice");
  }
}

TEST(GgufFile, TypeTable) {
  EXPECT_EQ(sdk::ggml_type_name(12), "Q4_K");
  EXPECT_EQ(sdk::ggml_type_info(14)->block_bytes, 210);
  EXPECT_EQ(sdk::ggml_type_info(23)->block_bytes, 136);
  EXPECT_FALSE(sdk::ggml_type_info(4).has_value());
  EXPECT_EQ(sdk::ggml_type_name(77), "type 77");
}

}  // namespace
}  // namespace vkllm::test
