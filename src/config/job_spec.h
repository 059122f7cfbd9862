// The YAML job spec (configs/*.yaml) as typed, validated structs.
// Every field, its default and its range is documented in docs/job-spec.md; the defaults are
// written here, in the structs, and nowhere else.
#ifndef BRAINTUNE_CONFIG_JOB_SPEC_H_
#define BRAINTUNE_CONFIG_JOB_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::config {

struct ResourcesSpec {
  int ranks = 1;          // MPI ranks (one CPU slot or GPU each); 1..1024
  int gpus_per_rank = 0;  // 0 = CPU; 0..8
  double gpu_memory_gb = 0;  // at least this much memory per GPU; 0 = any; [0, 1024]
  int priority = 100;     // 0..1000; higher starts first and may preempt lower (docs/operations.md)
  std::string group;      // the lab or project, for fair share and quotas; empty = none
  bool preemptible = true;  // may be stopped and requeued for a higher-priority job
  int max_restarts = 2;     // relaunches on the same nodes after a rank fails; 0..100
  double restart_backoff_seconds = 5;  // wait before the first relaunch, doubled each time (max 600 s); [0, 600]
};

struct DataSpec {
  std::string path;                       // HDF5 dataset (required); relative to the spec file
  std::vector<std::string> participants;  // empty = every participant in the file
  std::vector<std::string> test_stories;  // held out for evaluation; empty = the last story
  int context_trs = 5;   // audio of the current TR plus the preceding context_trs-1; 1..32
  // Seconds of audio per sample, ending with the sample; [0, 120]. 0: context_trs TRs (fMRI),
  // 1 s (MEG, whose samples are milliseconds apart).
  double context_seconds = 0;
  int trim_start = 10;   // TRs dropped at the start of every story; 0..1000
  int trim_end = 5;      // TRs dropped at the end of every story; 0..1000
  // Share of every training story's windows, at its end, held out for the validation loss
  // (early stopping); [0, 0.5]. 0: no validation.
  double validation_fraction = 0.1;
  // Stories recorded at another rate than the model hears (its input contract,
  // docs/model.md) are resampled to it; false makes that an error instead.
  bool resample = true;
  // Train on this ROI's targets only (a name in the participants' /rois; every participant
  // must have it). Empty: every target.
  std::string target_roi;
};

// LoRA adapters (model.finetune: lora).
struct LoraSpec {
  int rank = 8;          // 1..1024
  double alpha = 32;     // the update is scaled by alpha / rank; (0, 1e6]
  double dropout = 0.1;  // on the adapter's input; [0, 1)
  // Linear layers of every transformer layer that get an adapter. wav2vec2 / HuBERT: q_proj,
  // k_proj, v_proj, out_proj, intermediate_dense, output_dense (default: the first four). GPT-2:
  // c_attn, c_proj, c_fc, mlp_c_proj (default: c_attn, c_proj). BERT: query, key, value,
  // attention_output, intermediate, output (default: the first four). A name the model lacks
  // is an error when the model is built.
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "out_proj"};
  bool targets_given = false;  // model.lora.targets was in the spec (else the architecture's default)
};

// The brain-tuning model (docs/model.md): a wav2vec2 / HuBERT encoder, or a GPT-2 / BERT text
// encoder (model.pretrained's config.json says which), pooling, heads.
struct ModelSpec {
  std::string size = "tiny";      // "tiny" (CPU-sized), "base" (95M, wav2vec2-base/HuBERT-base), "large" (315M)
  std::string type = "wav2vec2";  // "wav2vec2" or "hubert": the model_type of exports (one architecture)
  // A Hugging Face checkpoint directory (config.json + model.safetensors) to start from;
  // relative to the spec file. Its config.json sets the architecture (size and the overrides
  // below must then be left out). Empty: random initialisation from training.seed.
  std::string pretrained;
  // Overrides of the size's architecture (0 = the size's; filled in by the parser).
  int hidden = 0;             // transformer width; 8..4096, divisible by heads
  int layers = 0;             // transformer layers; 1..48
  int heads = 0;              // attention heads; 1..64
  int ffn = 0;                // feed-forward width; 8..16384
  int conv_channels = 0;      // channels of every convolutional feature-encoder layer; 8..1024
  double dropout = 0.0;       // transformer dropout while training; [0, 1)
  bool freeze_feature_encoder = true;  // the convolutional feature encoder does not learn
  // "full": every transformer parameter; "lora": adapters only. Default: full for a speech
  // model, lora for a text model (the published text recipe; rank::ApplyTextModelDefaults).
  std::string finetune = "full";
  bool finetune_given = false;  // model.finetune was in the spec
  LoraSpec lora;
  std::string head = "shared";         // "shared": one head per space; "participant": one each
  // Over time: "mean", "last" (newest frame), "attention"; a text model pools the states at
  // the last token of each word of the sample the same ways (mean, the newest word, attention).
  std::string pooling = "mean";
};

// The training recipe (design.md section 2; docs/job-spec.md).
struct TrainingSpec {
  int64_t steps = 200;        // optimizer steps (the most; early stopping may end sooner); 1..10,000,000
  int batch_size = 128;       // stimulus windows per global batch; 1..65536
  int accumulation_steps = 1; // micro-batches the global batch is split into (gradients add up); 1..1024
  double lr = 5e-5;           // AdamW learning rate of the encoder; (0, 1]
  double head_lr = 1e-4;      // ... of the heads and the pooling; (0, 1]
  double warmup_fraction = 0.1;  // share of steps with a linear warm-up from 0; [0, 1]
  std::string schedule = "linear";  // after warm-up: "linear" decay to 0 at `steps`, or "constant"
  double weight_decay = 0.01; // AdamW weight decay; [0, 1]
  double grad_clip = 1.0;     // maximum global gradient norm; (0, 1e6]
  // "mse", "pearson" (1 - r per target), or "mse+pearson". Default: mse for a speech model,
  // pearson for a text model (the published text recipe; rank::ApplyTextModelDefaults).
  std::string loss = "mse";
  bool loss_given = false;    // training.loss was in the spec
  double pearson_weight = 1.0;  // weight of the Pearson term in "mse+pearson"; [0, 1000]
  uint64_t seed = 0;          // batches and initialisation; same seed, same run
  int log_every = 10;         // steps between progress reports; 5..100000 (no flooding a shared coordinator)
  int eval_batch_size = 32;   // windows per forward pass during evaluation; 1..65536
  // Steps between validation-loss checks (data.validation_fraction); 0: none. 0..10,000,000
  int64_t validation_every = 50;
  // Validation checks without a new best before training stops early (the best weights are
  // kept); 0: never stop early. 0..10000
  int patience = 5;
  // "auto": bf16 autocast on a GPU, fp32 on a CPU; "fp32"; "bf16" (GPU only).
  std::string precision = "auto";
  // Steps between checkpoints (<output>/checkpoints/step-N.pt; also written at the end): a
  // relaunched job (a rank failed, its node was lost, it was preempted) continues from the
  // latest, exactly. 0: none. 0..10,000,000
  int64_t checkpoint_every = 100;
  int keep_checkpoints = 3;   // the newest K step checkpoints are kept; 1..1000
  bool export_hf = true;      // write <output>/hf/ (config.json + model.safetensors) at the end
};

struct OutputSpec {
  std::string dir;            // where checkpoint and results go; empty = the agent's job directory
};

inline constexpr double kEvaluateCollectiveTimeout = 3600;

// Gradient synchronisation across ranks (src/ddp/reducer.h, docs/ddp.md).
struct DistributedSpec {
  double bucket_cap_mb = 25;        // gradient bucket size; (0, 4096]
  double first_bucket_cap_mb = 1;   // the first bucket, ready earliest; (0, 4096]
  // Seconds a rank waits in a collective before failing; (0, 86400]. Default 600, and
  // kEvaluateCollectiveTimeout for kind evaluate.
  double collective_timeout = 600;
};

// One model of an evaluation (kind "evaluate"); models are compared on the same splits.
struct EvalModelSpec {
  std::string name;        // required; [A-Za-z0-9._-], 1..64 characters, unique
  std::string checkpoint;  // a training job's checkpoint.pt; empty = the untrained model of
                           // training.seed (the baseline); relative to the spec file
  // A Hugging Face text model directory (config.json of model_type gpt2 or bert,
  // model.safetensors, and its tokenizer's files: vocab.json + merges.txt, or vocab.txt),
  // scored on word-level features (context_words below) beside the speech models. Relative to
  // the spec file; not with `checkpoint`.
  std::string pretrained;
  // A feature space the dataset stores, scored as a model of one layer (0): the names'
  // columns side by side, each a /stimuli/<story>/features name (a lab's spectral or
  // articulatory features; the synthetic brain's ground-truth latents) or "letters",
  // "phonemes", "word_rate" (per word), on the first name's times (others are Lanczos-resampled
  // onto them). 1..32 names; not with `checkpoint` or `pretrained`.
  std::vector<std::string> features;
};

// Brain-alignment evaluation (design.md section 3, docs/evaluation.md).
struct EvaluationSpec {
  std::vector<EvalModelSpec> models;     // 1..10; required for kinds "evaluate" and "features"
  std::vector<int> layers;               // 0 = transformer input, k = after layer k; empty = all
  double context_seconds = 16;           // causal window of audio per feature vector; (0, 120]
  double stride_seconds = 0.1;           // one feature vector per stride; (0, 10]
  std::string pooling = "last";          // "last": frames of the newest stride; "mean": the window
  std::vector<int> delays = {1, 2, 3, 4};  // FIR delays in samples (TRs); 1..16 values in 0..100
  double alpha_min = 10;                 // ridge alphas: alpha_count values log-spaced over
  double alpha_max = 1e4;                //   [alpha_min, alpha_max]; 0 < min <= max <= 1e12
  int alpha_count = 15;                  // 1..100
  int folds = 5;                         // contiguous folds choosing each target's alpha; 2..100
  double ceiling_threshold = 0.4;        // targets with noise ceiling <= this are masked; [0, 1)
  // Low-level features regressed out of the model features in the feature-removal control:
  // "letters", "phonemes" (per word), "word_rate", or any /stimuli/<story>/features name.
  // Empty: no removal control.
  std::vector<std::string> confounds = {"letters", "phonemes", "word_rate"};
  // The controls run at each model's best layer (docs/evaluation.md): "residualisation" (the
  // confounds above regressed out), "erasure" (LEACE concept erasure of erasure_concept),
  // "variance_partitioning" (banded ridge on the model's features and the confounds above,
  // which must not be empty: unique and shared R^2 per ROI) and "permutation" (per-target
  // block-permutation p-values, Benjamini-Hochberg FDR; the keys below).
  std::vector<std::string> controls = {"residualisation"};
  // The concept erased, one value per word: "letters", "phonemes", "word_frequency" (stored, or
  // counted in the dataset's stories), or the name of a stored per-word feature
  // (/stimuli/<story>/features/<name>, one row per word).
  std::string erasure_concept = "letters";
  // The permutation control: shuffles of the test responses in blocks of permutation_block_trs
  // samples (within each test run); 1..1000.
  int permutation_block_trs = 10;
  int permutations = 1000;               // shuffles per participant; 100..100000
  double fdr_q = 0.05;                   // Benjamini-Hochberg false discovery rate; (0, 0.5]
  // Shares of the training samples for the data-efficiency sweep, each in (0, 1]; empty: none.
  std::vector<double> data_fractions = {0.05, 0.1, 0.25, 0.5, 1.0};
  // Feature cache; empty = $XDG_CACHE_HOME/braintune/features (~/.cache/braintune/features).
  std::string cache_dir;
  int batch_size = 32;                   // windows per forward pass; 1..65536
  // Text models (models[].pretrained): the words before each word that its features see;
  // "huth": the context grows to context_words and restarts from its last half, "sliding": the
  // last context_words (eval/word_features.h).
  int context_words = 256;               // 1..100000
  std::string context_mode = "huth";     // "huth" or "sliding"
  // Linear probes of every layer (docs/evaluation.md): "phoneme" (phoneme identity, from the
  // dataset's phoneme timings), "word_class" (word meaning: /stimuli/<story>/words/class) and
  // "context_class" (the class dominating the last few seconds of words: eval/probes.h),
  // fitted on the training stories and scored on the test stories. A probe the dataset has no
  // labels for is skipped, saying so. Empty: none.
  std::vector<std::string> probes = {"phoneme", "word_class"};
  // Whose responses are scored (kind "evaluate"): "held_out": the participants of data.participants
  // (empty: the file's) that none of the models' checkpoints was tuned on (checkpoints record
  // them), an error when none is left; "all": every one of them; "auto": held_out when a model
  // has a checkpoint and some participant is left, else all (saying so).
  std::string participants = "auto";
  // Kind "features" only: also write every layer's features resampled (Lanczos) to each
  // participant's response times.
  bool resampled = false;
};

struct JobSpec {
  std::string name;           // required; [A-Za-z0-9._-], 1..64 characters
  // "train" (brain-tuning), "evaluate", "features" (model features exported to HDF5) or
  // "pretrain" (phoneme recognition from the dataset's annotations: a model.pretrained to start from)
  std::string kind = "train";
  ResourcesSpec resources;
  DataSpec data;
  ModelSpec model;
  TrainingSpec training;
  DistributedSpec distributed;
  OutputSpec output;
  EvaluationSpec evaluation;  // kinds "evaluate" and "features"
};

// A spec as a process holds it after parsing it once: the typed, validated spec and its
// canonical text (the file's YAML with every path made absolute), which is what travels to the
// coordinator, the agents and the ranks, and what a checkpoint remembers.
struct LoadedSpec {
  JobSpec spec;
  std::string text;
  std::string source;  // where the text came from, for messages (a file name)
};

// Parses and validates a spec whose paths are already absolute (or meant as given). `source`
// names the text in error messages (usually the file). Errors are InvalidArgument and read
// "<source>:<line>: <key>: <what is wrong>".
absl::StatusOr<JobSpec> ParseJobSpec(const std::string& yaml_text, const std::string& source);

// Parses and validates `yaml_text`, making its relative paths (data.path, output.dir,
// model.pretrained, evaluation.cache_dir, evaluation.models[].checkpoint) absolute against
// `base_dir`, in the typed spec and in the canonical text alike.
absl::StatusOr<LoadedSpec> ParseJobSpecText(const std::string& yaml_text, const std::string& source,
                                            const std::string& base_dir);

// Reads `path` and parses it with paths relative to the directory of `path`.
absl::StatusOr<LoadedSpec> LoadJobSpecFile(const std::string& path);

}  // namespace braintune::config

#endif  // BRAINTUNE_CONFIG_JOB_SPEC_H_
