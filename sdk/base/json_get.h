#pragma once
// Checked reads of JSON values from files (config.json, preprocessor_config.json, ...): a value
// of the wrong type, out of the target's range, or a non-integral number where an integer is
// wanted is a ModelError naming the file and key, never a wrap-around or undefined conversion.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "sdk/base/error.h"

namespace vkllm::json {

namespace detail {
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
}  // namespace detail

// v as T; `what` names it in errors ("config.json: \"hidden_size\"").
template <class T>
T as(const nlohmann::json& v, const std::string& what) {
  auto bad = [&](const char* why) {
    return ModelError(fmt::format("{} {} ({})", what, why, v.dump()));
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) throw bad("is not true or false");
    return v.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    using L = std::numeric_limits<T>;
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() > uint64_t(L::max())) throw bad("is out of range");
      return T(v.get<uint64_t>());
    }
    if (v.is_number_integer()) {
      int64_t x = v.get<int64_t>();
      if (x < 0 && !L::is_signed) throw bad("is negative");
      if (L::is_signed && (x < int64_t(L::min()) || x > int64_t(L::max())))
        throw bad("is out of range");
      return T(x);
    }
    if (v.is_number_float()) {  // 4096.0: accepted when integral and in range
      double d = v.get<double>();
      if (!std::isfinite(d) || d != std::floor(d)) throw bad("is not an integer");
      if (d < double(L::min()) || d >= std::ldexp(1.0, L::digits)) throw bad("is out of range");
      return T(d);
    }
    throw bad("is not an integer");
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) throw bad("is not a number");
    return T(v.get<double>());
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw bad("is not a string");
    return v.get<std::string>();
  } else if constexpr (detail::is_vector<T>::value) {
    if (!v.is_array()) throw bad("is not a list");
    T out;
    for (size_t i = 0; i < v.size(); ++i)
      out.push_back(as<typename T::value_type>(v[i], fmt::format("{}[{}]", what, i)));
    return out;
  } else {
    static_assert(std::is_same_v<T, nlohmann::json>, "unsupported type");
    return v;
  }
}

// j[key] as T; absent or null: ModelError "<where>: \"key\" is missing".
template <class T>
T get(const nlohmann::json& j, const char* key, const std::string& where = "config.json") {
  if (!j.is_object() || !j.contains(key) || j[key].is_null())
    throw ModelError(fmt::format("{}: \"{}\" is missing", where, key));
  return as<T>(j[key], fmt::format("{}: \"{}\"", where, key));
}

// j[key] as T, or `fallback` when absent or null (or j is not an object).
template <class T>
T get_or(const nlohmann::json& j, const char* key, T fallback,
         const std::string& where = "config.json") {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  return as<T>(j[key], fmt::format("{}: \"{}\"", where, key));
}

}  // namespace vkllm::json
