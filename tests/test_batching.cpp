// Continuous batching (EngineOptions::parallel > 1): requests that run concurrently share forward
// passes and the KV cache, yet each gets what it gets alone: the same greedy tokens, the same
// seeded samples, whatever the others do (prompt lengths, shared prefixes, preemption when the
// cache is full, cancellation, failures), for text and for every vision family.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <thread>

#include <fmt/format.h>

#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

const std::string kModel = std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv";
const std::string kData = std::string(VKLLM_SOURCE_DIR) + "/tests/data";

Request greedy(std::string prompt, int n = 10) {
  Request r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0.0f;
  r.max_tokens = n;
  r.ignore_eos = true;
  r.logprobs = 2;
  return r;
}

// Runs the requests at once, each from its own thread, released together.
std::vector<Result> concurrently(Engine& e, const std::vector<Request>& reqs) {
  std::vector<Result> out(reqs.size());
  std::vector<std::exception_ptr> errors(reqs.size());
  std::barrier start(std::ptrdiff_t(reqs.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      try {
        out[i] = e.generate(reqs[i]);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& err : errors)
    if (err) std::rethrow_exception(err);
  return out;
}

void expect_same(const Result& got, const Result& alone, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(got.ids, alone.ids);
  EXPECT_EQ(got.text, alone.text);
  EXPECT_EQ(got.finish_reason, alone.finish_reason);
  ASSERT_EQ(got.logprobs.size(), alone.logprobs.size());
  for (size_t i = 0; i < got.logprobs.size(); ++i)
    EXPECT_NEAR(got.logprobs[i].logprob, alone.logprobs[i].logprob, 1e-4) << "token " << i;
}

const std::vector<std::string> kPrompts = {
    "In",
    "And God said, Let there be light: and there was light.",
    "In the beginning God created the heaven and the earth. And the earth was without form, and "
    "void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face "
    "of the waters.",
    "In the beginning God created the heaven and the earth. And God saw the light, that it was "
    "good",
    "Blessed are the meek: for they shall inherit the earth.",
};

TEST(Batching, ConcurrentGreedyEqualsEachAlone) {
  // Prefill chunks of 16 tokens: the long prompts prefill over several passes beside the others'
  // decode steps; two prompts share their first 12 tokens.
  auto serial = Engine::load(kModel, {.prefill_chunk = 16, .prefix_cache = false});
  auto batched = Engine::load(kModel, {.prefill_chunk = 16, .parallel = 4});
  std::vector<Request> reqs;
  std::vector<Result> alone;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    reqs.push_back(greedy(kPrompts[i], 8 + int(i)));
    alone.push_back(serial->generate(reqs.back()));
  }
  for (int round = 0; round < 2; ++round) {  // the second round attaches cached prefixes
    auto got = concurrently(*batched, reqs);
    for (size_t i = 0; i < reqs.size(); ++i)
      expect_same(got[i], alone[i], fmt::format("round {} prompt {}", round, i));
    if (round == 1) {
      int64_t cached = 0;
      for (const auto& r : got) cached += r.cached_tokens;
      EXPECT_GT(cached, 0) << "the second round reuses the first round's blocks";
    }
  }
  EXPECT_GT(batched->stats().shared_steps, 0) << "no pass was shared";
  EXPECT_EQ(batched->stats().running, 0);
}

TEST(Batching, SeededSamplingIsReproducible) {
  auto e = Engine::load(kModel, {.parallel = 3});
  std::vector<Request> reqs;
  for (uint64_t seed : {1u, 2u, 3u}) {
    Request r;
    r.prompt = kPrompts[1];
    r.sampling.temperature = 0.9f;
    r.sampling.top_p = 0.95f;
    r.sampling.seed = seed;
    r.max_tokens = 12;
    r.ignore_eos = true;
    reqs.push_back(r);
  }
  std::vector<Result> alone;
  for (const auto& r : reqs) alone.push_back(e->generate(r));
  auto got = concurrently(*e, reqs);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(got[i].ids, alone[i].ids) << "seed " << i;
  EXPECT_GT(e->stats().shared_steps, 0);
  EXPECT_NE(alone[0].ids, alone[1].ids) << "different seeds sample differently";
}

TEST(Batching, PreemptsWhenTheCacheIsFullAndRecomputes) {
  // 8 blocks of 16 tokens for 4 sequences of ~40-60 tokens each: they cannot all stay; the
  // newest is preempted and recomputed, and every request still gets its own answer.
  auto serial = Engine::load(kModel, {.prefill_chunk = 16, .prefix_cache = false});
  auto tight = Engine::load(
      kModel, {.context = 128, .prefill_chunk = 16, .cache_tokens = 128, .parallel = 4});
  std::vector<Request> reqs;
  std::vector<Result> alone;
  for (size_t i = 1; i < kPrompts.size(); ++i) {
    reqs.push_back(greedy(kPrompts[i], 24));
    alone.push_back(serial->generate(reqs.back()));
  }
  auto got = concurrently(*tight, reqs);
  for (size_t i = 0; i < reqs.size(); ++i)
    expect_same(got[i], alone[i], fmt::format("prompt {}", i));
  EXPECT_GT(tight->stats().preemptions, 0);
  EXPECT_GT(tight->stats().shared_steps, 0);
}

TEST(Batching, CancellingOneLeavesTheOthers) {
  auto e = Engine::load(kModel, {.parallel = 3});
  std::vector<Request> reqs = {greedy(kPrompts[1], 12), greedy(kPrompts[2], 200),
                               greedy(kPrompts[4], 12)};
  std::vector<Result> alone = {e->generate(reqs[0]), {}, e->generate(reqs[2])};
  std::atomic<bool> stop{false};
  reqs[1].cancel = &stop;
  std::vector<Result> got(3);
  std::thread t0([&] { got[0] = e->generate(reqs[0]); });
  std::thread t1([&] {
    got[1] = e->generate(reqs[1], [&](const Chunk&) { stop = true; });  // after its first token
  });
  std::thread t2([&] { got[2] = e->generate(reqs[2]); });
  t0.join();
  t1.join();
  t2.join();
  EXPECT_EQ(got[1].finish_reason, "cancelled");
  EXPECT_LT(got[1].generated_tokens, 200);
  expect_same(got[0], alone[0], "first");
  expect_same(got[2], alone[2], "third");
}

TEST(Batching, ABadRequestFailsAloneWithAClearError) {
  auto e = Engine::load(kModel, {.context = 64, .parallel = 2});
  Request too_long = greedy(std::string(400, 'a'));
  Request fine = greedy(kPrompts[1]);
  std::vector<Result> got(1);
  std::thread ok([&] { got[0] = e->generate(fine); });
  try {
    e->generate(too_long);
    ADD_FAILURE() << "a prompt over the context ran";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("context"), std::string::npos) << err.what();
  }
  ok.join();
  EXPECT_EQ(got[0].generated_tokens, 10);
  EXPECT_THROW(Engine::load(kModel, {.parallel = 2, .draft_model = kModel}), InputError);
}

// Vision families batched: image runs of two requests in one pass (Gemma 3's bidirectional
// spans, Qwen2-VL's M-RoPE positions, LLaVA's features) give what each gets alone.
class BatchingVision : public ::testing::TestWithParam<const char*> {};

TEST_P(BatchingVision, ImagesInOnePassEqualEachAlone) {
  const std::string dir = kData + "/" + GetParam();
  auto serial = Engine::load(dir, {.prefix_cache = false});
  auto batched = Engine::load(dir, {.parallel = 3});
  std::vector<Request> reqs;
  const char* images[] = {"rgb_61x47.png", "rgba_150x100.png", "rgb_33x120.bmp"};
  for (int i = 0; i < 3; ++i) {
    Request r = greedy("", 6);
    r.prompt.clear();
    Message m{"user", i == 1 ? "What is this? Describe it" : "Describe", {}};
    m.images.push_back({kData + "/images/" + images[i], {}});
    if (i == 2) m.images.push_back({kData + "/images/" + images[0], {}});
    r.messages = {m};
    reqs.push_back(r);
  }
  std::vector<Result> alone;
  for (const auto& r : reqs) alone.push_back(serial->generate(r));
  auto got = concurrently(*batched, reqs);
  for (size_t i = 0; i < reqs.size(); ++i)
    expect_same(got[i], alone[i], fmt::format("request {}", i));
  EXPECT_GT(batched->stats().shared_steps, 0);
}

INSTANTIATE_TEST_SUITE_P(Families, BatchingVision,
                         ::testing::Values("gemma3/gemma3", "qwen_vl/qwen2_vl",
                                           "qwen_vl/qwen2_5_vl", "pixtral/llava_pixtral",
                                           "generic_vlm/llava_clip", "generic_vlm/llava_next"),
                         [](const auto& p) {
                           std::string n = p.param;
                           for (auto& c : n)
                             if (c == '/') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace vkllm::test
