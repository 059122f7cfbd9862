// What a speech model expects to hear: its input contract, as Hugging Face's
// preprocessor_config.json (a Wav2Vec2FeatureExtractor's) states it, with the same field names:
// the sample rate, whether each input is normalised to zero mean and unit variance, the value
// padding takes, and whether padded inputs need an attention mask. One contract serves tuning,
// evaluation and feature export (docs/model.md, "The input contract"). Torch-free.
#ifndef BRAINTUNE_MODEL_INPUT_CONTRACT_H_
#define BRAINTUNE_MODEL_INPUT_CONTRACT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "model/hf_config.h"

namespace braintune::model {

struct InputContract {
  // Samples per second the model was trained on; 0: none (a model trained from scratch hears
  // the dataset's own rate).
  double sampling_rate = 0;
  bool do_normalize = false;           // per input window: (x - mean) / sqrt(var + 1e-7)
  double padding_value = 0;            // what samples outside the audio are set to
  bool return_attention_mask = false;  // padded samples must be masked, not heard as silence
  // Where it came from, for the start-up line: a file, or "published defaults for ...".
  std::string source;

  // "16000 Hz, normalised per window, padding 0, no attention mask (from <source>)".
  std::string Describe() const;
  bool SameAs(const InputContract& o) const;
};

// The contract of a pretrained checkpoint without a preprocessor_config.json: what Hugging Face's
// Wav2Vec2FeatureExtractor and the published wav2vec2 / HuBERT checkpoints use (16 kHz,
// normalised, padding 0), with an attention mask for the encoders with a LayerNorm feature
// extractor (wav2vec2-large-lv60, HuBERT-large), as Hugging Face advises.
InputContract PublishedDefaults(const Wav2Vec2Config& config);

// The contract of a model trained from scratch: no fixed rate, no normalisation.
InputContract NoContract();

// Parses preprocessor_config.json. Unknown fields are ignored; a feature extractor other than
// Wav2Vec2FeatureExtractor (a spectrogram model's), feature_size other than 1, a sampling_rate
// outside [100, 384000] Hz or a wrong type is an error naming `source` and the field.
absl::StatusOr<InputContract> ParsePreprocessorConfig(const std::string& json_text, const std::string& source);

// preprocessor_config.json for `c`, loadable by transformers' AutoFeatureExtractor when
// c.sampling_rate > 0 (written on export beside config.json; checkpoints record it too, where 0
// means no fixed rate).
std::string PreprocessorConfigJson(const InputContract& c);

// The contract of the checkpoint directory `dir`: its preprocessor_config.json when present,
// else PublishedDefaults(config).
absl::StatusOr<InputContract> ReadInputContract(const std::string& dir, const Wav2Vec2Config& config);

// The rate the model hears audio recorded at `recorded_hz`: the contract's rate, or the recorded
// one when the contract has none. When they differ and `resample` is false (data.resample), an
// error naming `where`, both rates and the setting.
absl::StatusOr<double> HeardRate(const InputContract& c, double recorded_hz, bool resample, const std::string& where);

// The lines a job prints at start, each "<prefix>: ...": what the model hears, the recorded
// rates it hears stories at when it has no rate of its own, and each of `stories` (name,
// recorded Hz) it hears resampled.
std::string InputLines(const std::string& prefix, const InputContract& c,
                       const std::vector<std::pair<std::string, double>>& stories, bool resample);

// Whether a window is encoded alone at its unpadded length (`valid_samples`): where the contract
// asks for an attention mask, a padded window long enough for one encoder frame is, which is
// what the mask gives without a mask inside the encoder (the trainer's and the evaluator's rule).
bool EncodedAlone(const InputContract& c, const Wav2Vec2Config& config, int64_t valid_samples, bool padded);

// The key under which checkpoints record the contract (PreprocessorConfigJson).
inline constexpr char kContractKey[] = "input_contract";
// What a checkpoint's record says: `*recorded`, or, with none (written before braintune applied
// contracts), the JSON of NoContract(): its input was prepared under none.
std::string RecordedContractJson(const std::string* recorded);

// Prepares one input window of n samples in place, as the contract says: samples outside
// [valid_begin, valid_end) are padding (set to padding_value); with do_normalize the samples
// inside are normalised by their own mean and variance (Hugging Face's zero_mean_unit_var_norm
// with an attention mask: padding never enters the statistics).
void PrepareWindow(const InputContract& c, float* window, int64_t n, int64_t valid_begin, int64_t valid_end);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_INPUT_CONTRACT_H_
