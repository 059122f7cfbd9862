#include "model/safetensors.h"

#include <cstring>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/files.h"
#include "yaml-cpp/yaml.h"

namespace braintune::model {
namespace {

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  int64_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", torch::kFloat32, 4}, {"F64", torch::kFloat64, 8}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* FindDtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo* FindDtype(torch::ScalarType t) {
  for (const auto& d : kDtypes) {
    if (t == d.type) return &d;
  }
  return nullptr;
}

// JSON string literal (names are plain ASCII in practice; escape what JSON requires).
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

absl::StatusOr<std::map<std::string, torch::Tensor>> ReadSafetensors(const std::string& path) {
  // Weights are as large as the model (GPT-2 small 0.5 GB, wav2vec2 large 1.3 GB); 64 GiB bounds
  // a hostile path without refusing any model this project runs.
  auto bytes_or = ReadWholeFile(path, "safetensors file", int64_t{64} << 30);
  if (!bytes_or.ok()) return bytes_or.status();
  const std::string& bytes = *bytes_or;
  auto error = [&](const std::string& what) { return absl::InvalidArgumentError(absl::StrCat(path, ": ", what)); };
  if (bytes.size() < 8) return error("truncated: no header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_len > bytes.size() - 8) {
    return error(absl::StrCat("truncated: the header says ", header_len, " bytes, the file has ", bytes.size() - 8));
  }
  const size_t data_begin = 8 + header_len;
  const uint64_t data_size = bytes.size() - data_begin;
  YAML::Node header;
  try {
    header = YAML::Load(bytes.substr(8, header_len));
  } catch (const YAML::Exception& e) {
    return error(absl::StrCat("header is not valid JSON: ", e.msg));
  }
  if (!header.IsMap()) return error("header is not a JSON object");
  std::map<std::string, torch::Tensor> out;
  for (const auto& kv : header) {
    const std::string name = kv.first.as<std::string>();
    if (name == "__metadata__") continue;
    const YAML::Node& info = kv.second;
    auto bad = [&](const std::string& what) { return error(absl::StrCat("tensor '", name, "': ", what)); };
    std::string dtype;
    std::vector<int64_t> shape;
    std::vector<uint64_t> offsets;
    try {
      dtype = info["dtype"].as<std::string>();
      shape = info["shape"].as<std::vector<int64_t>>();
      offsets = info["data_offsets"].as<std::vector<uint64_t>>();
    } catch (const YAML::Exception&) {
      return bad("needs dtype (string), shape (list of integers) and data_offsets ([begin, end])");
    }
    const DtypeInfo* d = FindDtype(dtype);
    if (d == nullptr) return bad(absl::StrCat("unsupported dtype ", dtype));
    if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size) {
      return bad(absl::StrCat("data_offsets outside the ", data_size, " bytes of data"));
    }
    // Bounded by the data at every factor, so a hostile shape cannot overflow into a small product.
    uint64_t numel = 1;
    for (int64_t s : shape) {
      if (s < 0) return bad("negative dimension");
      if (s > 0 && numel > data_size / static_cast<uint64_t>(s)) {
        return bad(absl::StrCat("shape [", absl::StrJoin(shape, ", "), "] needs more than the ", data_size,
                                " bytes of data"));
      }
      numel *= static_cast<uint64_t>(s);
    }
    if (numel * d->bytes != offsets[1] - offsets[0]) {
      return bad(absl::StrCat("shape needs ", numel * d->bytes, " bytes of ", dtype, ", data_offsets give ",
                              offsets[1] - offsets[0]));
    }
    // from_blob needs no alignment guarantees for a clone; the buffer is freed after return.
    torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(d->type));
    std::memcpy(t.data_ptr(), bytes.data() + data_begin + offsets[0], numel * d->bytes);
    if (d->type == torch::kFloat16 || d->type == torch::kBFloat16 || d->type == torch::kFloat64) t = t.to(torch::kFloat32);
    out.emplace(name, t);
  }
  return out;
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      header += absl::StrCat(first ? "" : ",", Quote(k), ":", Quote(v));
      first = false;
    }
    header += "}";
  }
  std::vector<torch::Tensor> contiguous;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (!names.insert(name).second) return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "' twice"));
    const DtypeInfo* d = FindDtype(tensor.scalar_type());
    if (d == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "': unsupported type ",
                                                     c10::toString(tensor.scalar_type())));
    }
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    std::string shape;
    for (int64_t s : t.sizes()) shape += absl::StrCat(shape.empty() ? "" : ",", s);
    const uint64_t n = t.numel() * d->bytes;
    header += absl::StrCat(header.size() > 1 ? "," : "", Quote(name), ":{\"dtype\":\"", d->name, "\",\"shape\":[", shape,
                           "],\"data_offsets\":[", offset, ",", offset + n, "]}");
    offset += n;
    contiguous.push_back(t);
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  return WriteAtomically(path, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary);
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((header.size() >> (8 * i)) & 0xff);
    f.write(reinterpret_cast<const char*>(len), 8);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& t : contiguous) {
      f.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    }
    if (!f) throw std::runtime_error("write failed");
  });
}

}  // namespace braintune::model
