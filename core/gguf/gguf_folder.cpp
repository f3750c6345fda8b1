#include "core/gguf/gguf_folder.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/gguf/gguf_tokenizer.h"
#include "core/weights/safetensors.h"
#include "core/weights/weight_store.h"
#include "sdk/base/error.h"
#include "sdk/base/hash.h"
#include "sdk/base/log.h"
#include "sdk/gguf_file.h"
#include "sdk/plugin_api/descriptor.h"

namespace vkllm::core {
namespace fs = std::filesystem;

namespace {

// Bumped when what the folder holds changes for the same file.
constexpr int kFolderFormat = 1;

// VKLLM_CACHE_DIR, $XDG_CACHE_HOME/vkllm, ~/.cache/vkllm; the temp folder when none is usable.
fs::path cache_root() {
  fs::path dir;
  if (const char* c = std::getenv("VKLLM_CACHE_DIR"); c && *c)
    dir = c;
  else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    dir = fs::path(x) / "vkllm";
  else if (const char* h = std::getenv("HOME"); h && *h)
    dir = fs::path(h) / ".cache/vkllm";
  std::error_code ec;
  if (!dir.empty() && (fs::create_directories(dir / "gguf", ec), !ec)) return dir / "gguf";
  return fs::temp_directory_path() / fmt::format("vkllm-gguf-{}", ::getuid());
}

void write_json(const fs::path& p, const nlohmann::json& j) {
  std::ofstream out(p);
  out << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (!out) throw ModelError(fmt::format("{}: cannot write", p.string()));
}

// The names GGUF files give their general.file_type values (the type their tools report).
std::string file_type_name(int64_t t) {
  static const std::pair<int, const char*> names[] = {
      {0, "F32"},     {1, "F16"},     {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},
      {8, "Q5_0"},    {9, "Q5_1"},    {10, "Q2_K"},   {11, "Q3_K_S"}, {12, "Q3_K_M"},
      {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"},
      {18, "Q6_K"},   {25, "IQ4_NL"}, {30, "IQ4_XS"}, {32, "BF16"}};
  for (auto [id, name] : names)
    if (id == t) return name;
  return fmt::format("GGUF file type {}", t);
}

}  // namespace

bool is_gguf_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  if (fs::path(path).extension() == ".gguf") return true;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string(magic, 4) == "GGUF";
}

std::shared_ptr<Tokenizer> gguf_tokenizer(const std::string& path) {
  MappedFile map(path);
  const auto g = sdk::GgufFile::parse({map.data(), size_t(map.size())}, path);
  auto files = tokenizer_from_gguf(g);
  if (!files) throw ModelError(fmt::format("{}: no vocabulary (tokenizer.ggml.model)", path));
  return Tokenizer::from_json(files->tokenizer, files->config, path);
}

std::string model_folder(const std::string& path, const PluginHost& plugins) {
  if (!is_gguf_file(path)) {
    if (fs::path(path).extension() == ".gguf" && !fs::exists(path))
      throw InputError(fmt::format("{}: no such GGUF file", path));
    return path;
  }
  const fs::path file = fs::absolute(path);
  std::error_code ec_size, ec_time;
  const auto size = fs::file_size(file, ec_size);
  const auto mtime = fs::last_write_time(file, ec_time).time_since_epoch().count();
  if (ec_size || ec_time)
    throw ModelError(
        fmt::format("{}: cannot read: {}", file.string(), (ec_size ? ec_size : ec_time).message()));
  const std::string id = fmt::format("{}\n{}\n{}\n{}\n{}", file.string(), size, mtime,
                                     kFolderFormat, VKLLM_PLUGIN_ABI_VERSION);
  const auto h = sdk::content_hash({reinterpret_cast<const uint8_t*>(id.data()), id.size()});
  const fs::path dir = cache_root() / fmt::format("{}-{:016x}", file.stem().string(), h.lo);
  if (fs::exists(dir / kGgufView)) return dir.string();

  MappedFile map(file.string());
  const auto g = sdk::GgufFile::parse({map.data(), size_t(map.size())}, file.string());
  const std::string arch = g.architecture();
  const registry::Entry* e = plugins.registry().find(arch);
  if (!e)
    throw ModelError(fmt::format(
        "{}: GGUF architecture '{}' is not supported (no family in the registry serves it)",
        file.string(), arch));
  auto family = plugins.create_family(plugins.plugin_for(e->family, e->model_type));
  const plugin::GgufImport im = family->import_gguf(g);
  const auto tok = tokenizer_from_gguf(g);

  nlohmann::json view = {{"file", file.string()}, {"tensors", nlohmann::json::object()}};
  for (const auto& [name, ref] : im.tensors)
    view["tensors"][name] = {
        {"gguf", ref.gguf_name}, {"unpermute_heads", ref.unpermute_heads}, {"add", ref.add}};
  // Written aside and renamed, so a concurrent load never sees half a folder.
  const fs::path tmp = dir.string() + fmt::format(".tmp-{}", ::getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (fs::create_directories(tmp, ec); ec)
    throw ModelError(fmt::format("{}: cannot make its model folder {}: {}", file.string(),
                                 tmp.string(), ec.message()));
  // The checkpoint's type as llama.cpp names it (inspect, ModelInfo::dtype), not the family's
  // default torch_dtype.
  nlohmann::json config = im.config;
  if (g.has("general.file_type"))
    config["torch_dtype"] = file_type_name(g.integer("general.file_type"));
  write_json(tmp / "config.json", config);
  if (tok) {
    write_json(tmp / "tokenizer.json", tok->tokenizer);
    write_json(tmp / "tokenizer_config.json", tok->config);
  } else {
    log::get("core")->warn("{}: no tokenizer.ggml.model: the model runs from token ids only",
                           file.string());
  }
  write_json(tmp / kGgufView, view);
  fs::rename(tmp, dir, ec);
  if (ec) {  // another process made it first
    fs::remove_all(tmp, ec);
    if (!fs::exists(dir / kGgufView))
      throw ModelError(
          fmt::format("{}: cannot make its model folder {}", file.string(), dir.string()));
  }
  log::get("core")->debug("{}: GGUF {} ({} tensors) as {}", file.string(), arch, im.tensors.size(),
                          dir.string());
  return dir.string();
}

}  // namespace vkllm::core
