// The one way braintune reads YAML (and JSON, a subset of it) that a user or an operator wrote:
// the job spec, the scheduling policy file and a Hugging Face config.json. Whatever yaml-cpp
// throws becomes an InvalidArgument error naming the source and line, never a crash; every key
// read is remembered so a misspelt key can be an error; every numeric range check refuses NaN
// and infinities. Not thread-safe; one reader per mapping, on one thread.
#ifndef BRAINTUNE_CONFIG_YAML_READER_H_
#define BRAINTUNE_CONFIG_YAML_READER_H_

#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/yaml.h"

namespace braintune::config {

// Parses `text`; a syntax error reads "<source>:<line>: not valid <what>: <yaml-cpp's message>".
absl::StatusOr<YAML::Node> LoadYaml(const std::string& text, const std::string& source, const char* what = "YAML");

// Runs `parse` (which walks YAML nodes) and turns any yaml-cpp exception into
// "<source>:<line>: <message>". Every entry point that walks untrusted YAML goes through it.
absl::Status GuardYaml(const std::string& source, const std::function<absl::Status()>& parse);

// Reads the keys of one YAML mapping into typed fields. `prefix` is the mapping's dotted key
// ("" at the top level, "training", "users.ann"), used in messages: "<source>:<line>: <key>: <what>".
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string prefix, const std::string& source)
      : node_(node), prefix_(std::move(prefix)), source_(source) {}

  absl::Status CheckIsMap() const {
    if (!node_.IsMap()) return Error(node_, prefix_.empty() ? "<top level>" : prefix_, "must be a mapping");
    return absl::OkStatus();
  }

  // node[key] into *out when present and not null; `required` makes absence an error.
  template <typename T>
  absl::Status Read(const std::string& key, T* out, bool required = false) {
    used_.insert(key);
    const YAML::Node value = node_[key];
    if (!value.IsDefined() || value.IsNull()) {
      if (required) return Error(node_, Key(key), "is required");
      return absl::OkStatus();
    }
    try {
      *out = value.as<T>();
    } catch (const YAML::Exception&) {
      return Error(value, Key(key), absl::StrCat("expected ", TypeName<T>()));
    }
    return absl::OkStatus();
  }

  // A list of scalars at node[key], when present.
  template <typename T>
  absl::Status ReadList(const std::string& key, std::vector<T>* out) {
    used_.insert(key);
    const YAML::Node value = node_[key];
    if (!value.IsDefined() || value.IsNull()) return absl::OkStatus();
    const std::string expected = absl::StrCat("expected a list of ", TypePlural<T>());
    if (!value.IsSequence()) return Error(value, Key(key), expected);
    out->clear();
    for (const auto& item : value) {
      if (!item.IsScalar()) return Error(item, Key(key), expected);
      try {
        out->push_back(item.as<T>());
      } catch (const YAML::Exception&) {
        return Error(item, Key(key), expected);
      }
    }
    return absl::OkStatus();
  }

  // A nested node; undefined when absent. Marks the key as known.
  YAML::Node Child(const std::string& key) {
    used_.insert(key);
    return node_[key];
  }

  // Every key of the mapping must have been read (or passed to Child / Allow).
  absl::Status CheckNoUnknownKeys() const {
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>();
      if (!used_.count(key)) {
        return Error(kv.first, Key(key),
                     absl::StrCat("unknown key (known keys here: ", absl::StrJoin(used_, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  // value in [lo, hi]; NaN and infinities are always out of range.
  template <typename T>
  absl::Status CheckRange(const std::string& key, T value, T lo, T hi) const {
    if (!(value >= lo && value <= hi) || !IsFinite(value)) {
      return Error(node_[key], Key(key), absl::StrCat(value, " is out of range [", lo, ", ", hi, "]"));
    }
    return absl::OkStatus();
  }
  // value in (lo, hi]; NaN and infinities are always out of range.
  absl::Status CheckRangeOpenLow(const std::string& key, double value, double lo, double hi) const {
    if (!(value > lo && value <= hi) || !std::isfinite(value)) {
      return Error(node_[key], Key(key), absl::StrCat(value, " is out of range (", lo, ", ", hi, "]"));
    }
    return absl::OkStatus();
  }
  // value in [lo, hi); NaN and infinities are always out of range.
  absl::Status CheckRangeOpenHigh(const std::string& key, double value, double lo, double hi) const {
    if (!(value >= lo && value < hi) || !std::isfinite(value)) {
      return Error(node_[key], Key(key), absl::StrCat(value, " is out of range [", lo, ", ", hi, ")"));
    }
    return absl::OkStatus();
  }

  // "<source>:<line>: <key>: <what>". `at` may be a node the file lacks (a default that fails a
  // check): the error then points at this mapping. (Found by the fuzzer: yaml-cpp throws on
  // Mark() of a missing node.)
  absl::Status Error(const YAML::Node& at, const std::string& key, const std::string& what) const {
    const YAML::Node& where = at.IsDefined() ? at : node_;
    const int line = where.IsDefined() && where.Mark().line >= 0 ? where.Mark().line + 1 : 0;
    return absl::InvalidArgumentError(
        absl::StrCat(source_, line > 0 ? absl::StrCat(":", line) : "", ": ", key, ": ", what));
  }

  const YAML::Node& node() const { return node_; }
  const std::string& source() const { return source_; }
  std::string Key(const std::string& key) const { return prefix_.empty() ? key : absl::StrCat(prefix_, ".", key); }

 private:
  template <typename T>
  static bool IsFinite(T value) {
    if constexpr (std::is_floating_point_v<T>) return std::isfinite(value);
    return true;
  }
  template <typename T>
  static const char* TypeName() {
    if constexpr (std::is_same_v<T, std::string>) return "a string";
    if constexpr (std::is_same_v<T, bool>) return "true or false";
    if constexpr (std::is_floating_point_v<T>) return "a number";
    if constexpr (std::is_same_v<T, std::vector<int64_t>>) return "a list of integers";
    return "an integer";
  }
  template <typename T>
  static const char* TypePlural() {
    if constexpr (std::is_same_v<T, std::string>) return "strings";
    if constexpr (std::is_floating_point_v<T>) return "numbers";
    return "integers";
  }

  const YAML::Node node_;  // const: lookups of absent keys must not insert them
  std::string prefix_;
  const std::string& source_;
  std::set<std::string> used_;
};

}  // namespace braintune::config

#endif  // BRAINTUNE_CONFIG_YAML_READER_H_
