// Embedding vkllm in a C++ application: load a model folder, stream a chat reply.
//   example_generate <model dir> <prompt> [max tokens]
#include <vkllm/engine.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <model dir> <prompt> [max tokens]\n", argv[0]);
    return 2;
  }
  try {
    auto engine = vkllm::Engine::load(argv[1]);
    vkllm::Request req;
    req.prompt = argv[2];
    req.max_tokens = argc > 3 ? std::atoi(argv[3]) : 32;
    req.sampling.temperature = 0.0f;
    auto res =
        engine->generate(req, [](const vkllm::Chunk& c) { std::fputs(c.text.c_str(), stdout); });
    std::printf("\n[%lld tokens, %.1f tokens/s, %s]\n",
                static_cast<long long>(res.generated_tokens), res.decode_tokens_per_s,
                res.finish_reason.c_str());
    return res.generated_tokens > 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
