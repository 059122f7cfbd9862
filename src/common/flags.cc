#include "common/flags.h"

#include <cctype>
#include <cstdlib>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace braintune {

Flags::Flags(std::string usage, std::string description)
    : usage_(std::move(usage)), description_(std::move(description)) {}

Flags& Flags::Value(const std::string& name, const std::string& default_value, const std::string& help) {
  specs_[name] = {default_value, help, false};
  order_.push_back(name);
  return *this;
}

Flags& Flags::Bool(const std::string& name, const std::string& help) {
  specs_[name] = {"", help, true};
  order_.push_back(name);
  return *this;
}

namespace {

// A boolean's value as Get and IsSet hold it: "true" or "false"; the same words and 1/0 alike
// on the command line (--auth=0) and in the environment. `where` names it in the error.
absl::StatusOr<std::string> BoolValue(const std::string& value, const std::string& where) {
  if (value == "1" || value == "true") return std::string("true");
  if (value == "0" || value == "false") return std::string("false");
  return absl::InvalidArgumentError(absl::StrCat(where, ": '", value, "' is not true, false, 1 or 0"));
}

}  // namespace

Flags& Flags::FromEnvironment(std::string prefix) {
  env_prefix_ = std::move(prefix);
  return *this;
}

std::string Flags::EnvName(const std::string& name) const {
  if (env_prefix_.empty()) return "";
  std::string out = env_prefix_;
  for (char c : name) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

absl::Status Flags::Parse(int argc, char** argv, int first) {
  if (!env_prefix_.empty()) {
    for (const auto& [name, spec] : specs_) {
      const char* v = std::getenv(EnvName(name).c_str());
      if (v == nullptr || *v == '\0') continue;  // empty is unset: never an empty path or address
      std::string value = v;
      if (spec.is_bool) {
        absl::StatusOr<std::string> b = BoolValue(value, absl::StrCat("environment variable ", EnvName(name)));
        if (!b.ok()) return b.status();
        value = *b;
      }
      values_[name] = value;  // the command line, parsed next, overrides it
    }
  }
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = specs_.find(name);
    if (it == specs_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (it->second.is_bool) {
      absl::StatusOr<std::string> b = has_value ? BoolValue(value, "--" + name) : std::string("true");
      if (!b.ok()) return b.status();
      values_[name] = *b;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      value = argv[++i];
    }
    values_[name] = value;
  }
  return absl::OkStatus();
}

const std::string& Flags::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  return specs_.at(name).default_value;
}

absl::StatusOr<int64_t> Flags::GetInt(const std::string& name) const {
  int64_t v = 0;
  if (!absl::SimpleAtoi(Get(name), &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", Get(name), "' is not an integer"));
  }
  return v;
}

absl::StatusOr<double> Flags::GetDouble(const std::string& name) const {
  double v = 0;
  if (!absl::SimpleAtod(Get(name), &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", Get(name), "' is not a number"));
  }
  return v;
}

bool Flags::IsSet(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && it->second != "false";
}

std::string Flags::Help() const {
  std::string out = absl::StrCat("usage: ", usage_, "\n\n", description_, "\n");
  if (!order_.empty()) out += "\nflags:\n";
  for (const auto& name : order_) {
    const Spec& s = specs_.at(name);
    std::string left = absl::StrCat("  --", name, s.is_bool ? "" : " VALUE");
    if (left.size() < 28) left.resize(28, ' ');
    absl::StrAppend(&out, left, " ", s.help);
    if (!s.is_bool && !s.default_value.empty()) absl::StrAppend(&out, " (default: ", s.default_value, ")");
    if (!env_prefix_.empty()) absl::StrAppend(&out, " [$", EnvName(name), "]");
    out += "\n";
  }
  return out;
}

void Flags::ParseOrExit(int argc, char** argv, int first, const std::string& error_prefix) {
  if (absl::Status s = Parse(argc, argv, first); !s.ok()) {
    std::cerr << error_prefix << ": " << s.message() << "\n";
    std::exit(2);
  }
  if (help_requested()) {
    std::cout << Help();
    std::exit(0);
  }
}

}  // namespace braintune
