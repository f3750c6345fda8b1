#pragma once
// The model-metadata registry: which family plugin serves a config.json, what that family can
// do, and how configs are normalised before a plugin sees them. Data first: the table is
// registry/model_types.json (compiled in); code only where data cannot say it.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vkllm::registry {

// Where a family takes LoRA adapters (model_types.json, per family): the checkpoint tensor
// prefixes of each part ("text", "vision", "projector") adapters may update, and prefix
// renames tried, in order, on an adapter's module names that the checkpoint does not have
// (adapters trained on newer transformers module paths, or mlx-vlm's language_model.*).
struct AdapterRules {
  std::vector<std::pair<std::string, std::vector<std::string>>> parts;
  std::vector<std::pair<std::string, std::string>> renames;
  bool supported() const { return !parts.empty(); }
  // The part a checkpoint tensor belongs to ("" when none).
  std::string part_of(const std::string& tensor) const;
};

struct Entry {
  std::string model_type;
  std::string family;
  std::string kind;           // "text" or "vision"
  uint64_t capabilities = 0;  // VkllmCapability bits
  AdapterRules adapters;
  nlohmann::json defaults = nlohmann::json::object();
  // A route of a model type shared by several families: the nested config keys and the value
  // (or any of the values) each must have, {"vision_config.model_type": "x"}; empty for a plain
  // model type. `rule` says it for people: vision_config.model_type=x.
  nlohmann::json when;
  std::string rule;
  // A model type no family claims, loaded by the family whose fallback its vision_config and
  // text_config fit; `rule` says what was guessed from.
  bool guessed = false;
  bool matches(const nlohmann::json& config) const;
};

// Capability names as in model_types.json ("text", "vision", ...) <-> VkllmCapability bits.
uint64_t capability_bits(const std::vector<std::string>& names);
std::vector<std::string> capability_names(uint64_t bits);

class Registry {
 public:
  // The compiled-in table.
  static const Registry& builtin();
  // A table from JSON text (throws ModelError with the offending key).
  static Registry parse(const std::string& json_text, const std::string& origin);

  const Entry* find(const std::string& model_type) const;
  std::vector<std::string> model_types() const;
  const std::map<std::string, Entry>& entries() const { return entries_; }
  // Routes on nested keys, in the table's order (tried before entries() for their model type).
  const std::vector<Entry>& routes() const { return routes_; }
  // A family that loads model types no one claims when their vision_config names one of its
  // towers and their text_config a known text model type.
  struct Fallback {
    Entry entry;  // family, kind, capabilities, defaults
    std::vector<std::string> towers;
  };
  const std::vector<Fallback>& fallbacks() const { return fallbacks_; }
  // Adds an entry (e.g. a model type a plugin declares that the table does not list).
  void add(Entry e);
  // A family's adapter rules (none when the table does not say).
  const AdapterRules* adapters(const std::string& family) const;

  // The entry for a config: the first route of its model_type whose keys match, else its
  // model_type's entry, or, for a type no family claims, a guessed entry of the family whose
  // "fallback" takes its vision_config's tower and whose text_config.model_type is a known text
  // type. Throws ModelError listing the known types otherwise; `where` names the config file.
  Entry route(const nlohmann::json& config, const std::string& where) const;

  // The config a plugin sees: text_config merged into the top level (vision_config kept,
  // text_config.model_type as "text_model_type"), the entry's defaults for absent keys, then
  // the text model type's, quantization blocks in one form:
  //   "quantization": {"bits": 4, "group_size": 64, "overrides": {"<tensor prefix>": {...}}}
  nlohmann::json normalize(const nlohmann::json& config, const Entry& entry,
                           const std::string& where) const;

 private:
  std::map<std::string, Entry> entries_;
  std::vector<Entry> routes_;
  std::vector<Fallback> fallbacks_;
  std::map<std::string, AdapterRules> adapters_;  // per family
  std::vector<std::string> text_from_config_;     // families whose text model type must be known
  std::string type_list(bool text_only) const;    // the known (text) model types, for messages
};

// How models write tool calls (tool_styles.json, compiled in): {"styles": [...]}, each chosen by
// what a chat template contains.
const nlohmann::json& tool_styles();
// What GGUF vocabularies name (gguf_tokenizers.json, compiled in): {"byte_level": [{"names",
// "regex", "ignore_merges"}, ...]}, the pre-tokenizers of tokenizer.ggml.pre.
const nlohmann::json& gguf_tokenizers();

}  // namespace vkllm::registry
