#include "registry/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/plugin_api/descriptor.h"

namespace vkllm::registry {

extern const char* const kModelTypesJson;      // generated from model_types.json
extern const char* const kToolStylesJson;      // generated from tool_styles.json
extern const char* const kGgufTokenizersJson;  // generated from gguf_tokenizers.json

namespace {

const std::pair<const char*, uint64_t> kCaps[] = {
    {"text", VKLLM_CAP_TEXT},
    {"vision", VKLLM_CAP_VISION},
    {"multi_image", VKLLM_CAP_MULTI_IMAGE},
    {"video", VKLLM_CAP_VIDEO},
    {"sliding_window", VKLLM_CAP_SLIDING_WINDOW},
    {"mrope", VKLLM_CAP_MROPE},
    {"kv_quant", VKLLM_CAP_KV_QUANT},
    {"prefix_cache", VKLLM_CAP_PREFIX_CACHE},
    {"speculative", VKLLM_CAP_SPECULATIVE},
};

// The value at a dotted path of nested objects ("vision_config.model_type"), or null.
const nlohmann::json* at_path(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json* v = &j;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string key = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!v->is_object() || !v->contains(key)) return nullptr;
    v = &(*v)[key];
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

std::string describe_when(const nlohmann::json& when) {
  std::string out;
  for (const auto& [path, want] : when.items()) {
    std::vector<std::string> values;
    for (const auto& w : want.is_array() ? want : nlohmann::json::array({want}))
      values.push_back(w.is_string() ? w.get<std::string>() : w.dump());
    out += fmt::format("{}{}={}", out.empty() ? "" : ",", path, fmt::join(values, "|"));
  }
  return out;
}

}  // namespace

bool Entry::matches(const nlohmann::json& config) const {
  for (const auto& [path, want] : when.items()) {
    const nlohmann::json* v = at_path(config, path);
    if (!v) return false;
    bool any = false;
    for (const auto& w : want.is_array() ? want : nlohmann::json::array({want})) any |= *v == w;
    if (!any) return false;
  }
  return true;
}

uint64_t capability_bits(const std::vector<std::string>& names) {
  uint64_t bits = 0;
  for (const auto& n : names) {
    bool found = false;
    for (auto& [name, bit] : kCaps) {
      if (n == name) {
        bits |= bit;
        found = true;
      }
    }
    if (!found) throw ModelError("[registry] unknown capability '" + n + "'");
  }
  return bits;
}

std::vector<std::string> capability_names(uint64_t bits) {
  std::vector<std::string> out;
  for (auto& [name, bit] : kCaps)
    if (bits & bit) out.emplace_back(name);
  return out;
}

Registry Registry::parse(const std::string& text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(fmt::format("[registry] {}: not valid JSON: {}", origin, e.what()));
  }
  Registry r;
  try {
    const auto& fams = j.at("families");
    auto entry = [&](const std::string& type, const nlohmann::json& m) {
      Entry e;
      e.model_type = type;
      e.family = m.at("family").get<std::string>();
      if (!fams.contains(e.family)) {
        throw ModelError(fmt::format("[registry] {}: model type '{}' names unknown family '{}'",
                                     origin, type, e.family));
      }
      const auto& fam = fams.at(e.family);
      e.kind = m.contains("kind") ? m.at("kind").get<std::string>()     // a text-only type of a
                                  : fam.at("kind").get<std::string>();  // vision family
      e.capabilities = capability_bits(fam.at("capabilities").get<std::vector<std::string>>());
      if (auto it = r.adapters_.find(e.family); it != r.adapters_.end()) e.adapters = it->second;
      if (m.contains("defaults")) e.defaults = m.at("defaults");
      return e;
    };
    for (const auto& [name, fam] : fams.items()) {
      if (!fam.contains("adapters")) continue;
      const auto& a = fam.at("adapters");
      AdapterRules rules;
      for (const auto& [part, prefixes] : a.at("parts").items())
        rules.parts.emplace_back(part, prefixes.get<std::vector<std::string>>());
      if (a.contains("renames"))
        for (const auto& pair : a.at("renames"))
          rules.renames.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
      r.adapters_[name] = std::move(rules);
    }
    for (const auto& [name, fam] : fams.items()) {
      if (fam.value("text_from_config", false)) r.text_from_config_.push_back(name);
      if (!fam.contains("fallback")) continue;
      const auto& fb = fam.at("fallback");
      Fallback f;
      f.entry = entry(
          "", {{"family", name}, {"defaults", fb.value("defaults", nlohmann::json::object())}});
      f.entry.guessed = true;
      f.towers = fb.at("towers").get<std::vector<std::string>>();
      r.fallbacks_.push_back(std::move(f));
    }
    for (const auto& [type, m] : j.at("model_types").items()) {
      if (!m.contains("routes")) {
        r.entries_[type] = entry(type, m);
        continue;
      }
      // A model type several families share: each route says which nested keys pick it.
      for (const auto& route : m.at("routes")) {
        Entry e = entry(type, route);
        e.when = route.at("when");
        if (!e.when.is_object() || e.when.empty())
          throw ModelError(
              fmt::format("[registry] {}: a route of '{}' has no \"when\" keys", origin, type));
        e.rule = describe_when(e.when);
        r.routes_.push_back(std::move(e));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(fmt::format("[registry] {}: {}", origin, e.what()));
  }
  return r;
}

namespace {
nlohmann::json parse_builtin(const char* text, const char* file) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(fmt::format("[registry] registry/{}: {}", file, e.what()));
  }
}
}  // namespace

const nlohmann::json& tool_styles() {
  static const nlohmann::json j = parse_builtin(kToolStylesJson, "tool_styles.json");
  return j;
}

const nlohmann::json& gguf_tokenizers() {
  static const nlohmann::json j = parse_builtin(kGgufTokenizersJson, "gguf_tokenizers.json");
  return j;
}

const Registry& Registry::builtin() {
  static const Registry r = parse(kModelTypesJson, "registry/model_types.json");
  return r;
}

std::string AdapterRules::part_of(const std::string& tensor) const {
  for (const auto& [part, prefixes] : parts)
    for (const auto& p : prefixes)
      if (tensor.starts_with(p)) return part;
  return "";
}

const AdapterRules* Registry::adapters(const std::string& family) const {
  auto it = adapters_.find(family);
  return it == adapters_.end() ? nullptr : &it->second;
}

const Entry* Registry::find(const std::string& model_type) const {
  auto it = entries_.find(model_type);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::model_types() const {
  std::vector<std::string> out;
  for (auto& [k, v] : entries_) out.push_back(k);
  return out;
}

void Registry::add(Entry e) { entries_[e.model_type] = std::move(e); }

std::string Registry::type_list(bool text_only) const {
  std::string out;
  for (const auto& [k, e] : entries_)
    if (!text_only || e.kind == "text") out += (out.empty() ? "" : ", ") + k;
  return out;
}

Entry Registry::route(const nlohmann::json& config, const std::string& where) const {
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string()) {
    throw ModelError(fmt::format("[registry] {}: no \"model_type\" string", where));
  }
  std::string type = config["model_type"].get<std::string>();
  std::string rules;
  for (const Entry& e : routes_) {
    if (e.model_type != type) continue;
    if (e.matches(config)) return e;
    rules += fmt::format("{}{} -> {}", rules.empty() ? "" : "; ", e.rule, e.family);
  }
  if (const Entry* e = find(type)) return *e;
  if (!rules.empty()) {
    std::string seen;
    for (const Entry& e : routes_) {
      if (e.model_type != type) continue;
      for (const auto& [path, want] : e.when.items()) {
        const nlohmann::json* v = at_path(config, path);
        std::string item = fmt::format(
            "{}={}", path, v ? (v->is_string() ? v->get<std::string>() : v->dump()) : "(absent)");
        if (seen.find(item) == std::string::npos)
          seen += fmt::format("{}{}", seen.empty() ? "" : ", ", item);
      }
    }
    throw ModelError(
        fmt::format("[registry] {}: no family serves model_type '{}' with {}; its routes: {}",
                    where, type, seen, rules));
  }
  // An unknown type: a known tower and a known text model make a guess.
  std::string why;
  auto type_at = [&](const char* path) {
    const nlohmann::json* v = at_path(config, path);
    return v && v->is_string() ? v->get<std::string>() : std::string();
  };
  if (config.contains("vision_config")) {
    const std::string tower = type_at("vision_config.model_type"),
                      text = type_at("text_config.model_type");
    const Entry* t = text.empty() ? nullptr : find(text);
    for (const Fallback& f : fallbacks_) {
      const bool known_tower = std::find(f.towers.begin(), f.towers.end(), tower) != f.towers.end();
      if (known_tower && t && t->kind == "text") {
        Entry e = f.entry;
        e.model_type = type;
        e.rule = fmt::format("vision_config.model_type={}, text_config.model_type={}", tower, text);
        return e;
      }
      why = fmt::format(
          " (as a {} model it would need vision_config.model_type of {} (it is {}) and "
          "text_config.model_type of {} (it is {}))",
          f.entry.family, fmt::join(f.towers, ", "), tower.empty() ? "absent" : tower,
          type_list(true), text.empty() ? "absent" : text);
    }
  }
  throw ModelError(fmt::format("[registry] {}: unknown model_type '{}'; known model types: {}{}",
                               where, type, type_list(false), why));
}

nlohmann::json Registry::normalize(const nlohmann::json& config, const Entry& entry,
                                   const std::string& where) const {
  nlohmann::json out = config;
  if (config.contains("text_config") && config["text_config"].is_object()) {
    // Text settings live under text_config in multimodal configs; the top level keeps
    // model_type, vision_config and the multimodal keys.
    for (const auto& [k, v] : config["text_config"].items()) {
      if (k == "model_type") {
        out["text_model_type"] = v;
      } else if (!v.is_null() || !out.contains(k)) {  // a null there (image_token_id) keeps ours
        out[k] = v;
      }
    }
    out.erase("text_config");
  }
  // Defaults fill absent keys only: an explicit null means "none" to the config classes
  // ("sliding_window": null is no window, not the config class's default of 4096).
  for (const auto& [k, v] : entry.defaults.items()) {
    if (!out.contains(k)) out[k] = v;
  }
  // Then the text model's own config class's (text_config.model_type's entry).
  const bool composes = std::find(text_from_config_.begin(), text_from_config_.end(),
                                  entry.family) != text_from_config_.end();
  if (out.contains("text_model_type") && out["text_model_type"].is_string()) {
    const std::string text = out["text_model_type"].get<std::string>();
    const Entry* t = find(text);
    if (t && t->kind == "text") {
      for (const auto& [k, v] : t->defaults.items())
        if (!out.contains(k)) out[k] = v;
    } else if (composes) {
      throw ModelError(fmt::format(
          "[registry] {}: text_config.model_type '{}' is not a text model the {} family can "
          "build (known: {})",
          where, text, entry.family, type_list(true)));
    }
  } else if (composes) {
    throw ModelError(fmt::format("[registry] {}: the {} family needs text_config.model_type", where,
                                 entry.family));
  }
  // Quantization: MLX writes "quantization" (and "quantization_config") as
  // {"group_size": g, "bits": b, "<module path>": {...} | false, ...}.
  nlohmann::json q;
  for (const char* key : {"quantization", "quantization_config"}) {
    if (config.contains(key) && !config[key].is_null()) {
      q = config[key];
      break;
    }
  }
  out.erase("quantization_config");
  if (!q.is_null()) {
    if (!q.is_object())
      throw ModelError(fmt::format("[registry] {}: \"quantization\" is not an object", where));
    if (q.contains("quant_method") && q["quant_method"] != "mlx") {
      throw ModelError(
          fmt::format("[registry] {}: quantization method '{}' is not supported "
                      "(MLX affine 4/8-bit checkpoints are; or load a f16/bf16 "
                      "checkpoint with --quantize)",
                      where, q["quant_method"].dump()));
    }
    const std::string qwhere = where + ": quantization";
    nlohmann::json n = {{"bits", json::get_or<int>(q, "bits", 4, qwhere)},
                        {"group_size", json::get_or<int>(q, "group_size", 64, qwhere)},
                        {"overrides", nlohmann::json::object()}};
    auto check = [&](int bits, int group, const std::string& what) {
      if ((bits != 4 && bits != 8) || (group != 32 && group != 64 && group != 128)) {
        throw ModelError(
            fmt::format("[registry] {}: {}-bit quantization with group size {} is not "
                        "supported (4 or 8 bits, groups of 32, 64 or 128)",
                        what, bits, group));
      }
    };
    int bits = n["bits"].get<int>(), group = n["group_size"].get<int>();
    check(bits, group, where);
    for (const auto& [k, v] : q.items()) {
      if (v.is_boolean()) n["overrides"][k] = v;
      if (!v.is_object()) continue;
      const std::string owhere = qwhere + "." + k;
      nlohmann::json o = {{"bits", json::get_or<int>(v, "bits", bits, owhere)},
                          {"group_size", json::get_or<int>(v, "group_size", group, owhere)}};
      check(o["bits"], o["group_size"], owhere);
      n["overrides"][k] = o;
    }
    out["quantization"] = n;
  }
  return out;
}

}  // namespace vkllm::registry
