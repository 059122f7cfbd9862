// Hugging Face checkpoint directories, for every encoder: finding the weights file, copying a
// state dict into a module with every missing, unexpected or mis-shaped tensor named, and
// writing config.json + model.safetensors. Single-threaded.
#ifndef BRAINTUNE_MODEL_HF_WEIGHTS_H_
#define BRAINTUNE_MODEL_HF_WEIGHTS_H_

#include <torch/torch.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braintune::model {

// An empty module registered in `parent` under `name`: a level of Hugging Face's name tree
// ("encoder" in "encoder.layer.3.output.dense.weight") that holds no parameters of its own.
std::shared_ptr<torch::nn::Module> Child(torch::nn::Module& parent, const std::string& name);

// dir/model.safetensors, or failing that the first *.safetensors of `dir`; NotFound otherwise
// (with the hint that pytorch_model.bin needs converting).
absl::StatusOr<std::string> FindHfWeights(const std::string& dir);

// Copies `by_name` (already renamed to the module's parameter names) into `module`'s parameters,
// adapters (lora_*) aside. A parameter named in `optional` may be absent: it keeps its
// initialisation and is appended to `kept` (when not null). A mis-shaped, missing or unexpected
// tensor is an InvalidArgument naming up to five of them and `source`; nothing is copied then.
absl::Status CopyHfTensors(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& by_name,
                           const std::string& source, const std::set<std::string>& optional = {},
                           std::vector<std::string>* kept = nullptr);

// Writes dir/model.safetensors (`state`), dir/config.json and, when `extra` is not empty,
// dir/`extra_file`. Creates `dir`.
absl::Status WriteHfDirectory(const std::string& dir, const std::vector<std::pair<std::string, torch::Tensor>>& state,
                              const std::string& config_json,
                              const std::vector<std::pair<std::string, torch::Tensor>>& extra = {},
                              const std::string& extra_file = "");

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_HF_WEIGHTS_H_
