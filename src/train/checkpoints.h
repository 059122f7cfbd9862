// Step checkpoints and exact resume (training.checkpoint_every, keep_checkpoints; docs/model.md):
// <output>/checkpoints/step-NNNNNNNN.pt, written atomically by rank 0 (every rank holds the same
// parameters and optimizer state): model, optimizer (moments and step counts), the step reached,
// whether training had finished, the early-stopping state with the best weights, the untrained
// model's scores, the spec text it belongs to and the fingerprint of the dataset it was trained
// on (data/fingerprint.h: size, modification time, SHA-256 of the metadata and sampled blocks).
// Nothing else is needed to continue exactly: the learning-rate schedule and the data order are
// functions of the step (the loader starts there), and the random generators are re-seeded from
// seed, step and rank at every step.
// A checkpoint of another spec text or of another dataset file (regenerated at the same path) is
// never resumed, nor silently replaced: the job fails naming both, and the user deletes the
// checkpoints (or picks a new output.dir) to start afresh.
// Also the final checkpoint.pt (the model alone, what `braintune eval` reads). Torch-free header.
#ifndef BRAINTUNE_TRAIN_CHECKPOINTS_H_
#define BRAINTUNE_TRAIN_CHECKPOINTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/job_spec.h"
#include "data/fingerprint.h"
#include "dist/communicator.h"
#include "train/early_stopping.h"

namespace c10 {
struct Device;
}  // namespace c10
namespace torch::nn {
class Module;
}  // namespace torch::nn
namespace torch::optim {
class Optimizer;
}  // namespace torch::optim
namespace torch::serialize {
class InputArchive;
}  // namespace torch::serialize

namespace braintune::train {

// The key under which SaveModel records the tuned participants: their ids joined by newlines
// (eval/participants.h reads it).
inline constexpr char kTunedParticipantsKey[] = "participants";
// ... and the stories it held out (its test stories), joined by newlines.
inline constexpr char kTunedTestStoriesKey[] = "test_stories";
// ... and, for a model tuned with LoRA, its adapters' options (model::LoraOptionsRecord): the
// checkpoint's encoder is that architecture, whatever an evaluation's model.* says.
inline constexpr char kTunedLoraKey[] = "lora";

// Finds, saves, rotates and restores one job's step checkpoints. Thread model: not thread-safe;
// the trainer's thread. Every rank makes one; FindResume is collective (all ranks, same point).
class Checkpoints {
 public:
  // `output_dir`: the job's output directory; `spec_text`: the canonical spec text (a checkpoint
  // resumes only the same text); `dataset_path`: data.path (a checkpoint resumes only the same
  // file); `training`: the spec's training section.
  Checkpoints(const std::string& output_dir, std::string spec_text, std::string dataset_path,
              const config::TrainingSpec& training, dist::Communicator* comm);
  ~Checkpoints();
  Checkpoints(const Checkpoints&) = delete;
  Checkpoints& operator=(const Checkpoints&) = delete;

  struct Resume {
    int64_t first_step = 1;  // the step to train next; > 1 when resuming
    int64_t last_step = 0;   // the last step the checkpoint trained
    bool finished = false;   // the checkpoint is the final one (training had ended)
  };
  // Collective. Step 1, or one past the newest checkpoint that every rank can read (a rank that
  // sees none starts everyone afresh); an unreadable one is skipped for the one before it. Rank
  // 0 fingerprints the dataset (recorded by Save) and checks the newest checkpoint it reads:
  // when its spec text or dataset fingerprint differs, every rank returns the same
  // FailedPrecondition naming the checkpoint, both fingerprints (or the first differing spec
  // line) and how to start afresh. Rank 0 prints where it resumes from. The checkpoint stays
  // loaded for Load. REQUIRES: no other thread of the process uses HDF5 (before the loader
  // starts: serial HDF5 is one thread at a time).
  absl::StatusOr<Resume> FindResume();

  // Restores the model (then moved to `device`), the optimizer, the untrained scores and the
  // early-stopping state from the checkpoint FindResume found. REQUIRES: its first_step > 1.
  absl::Status Load(torch::nn::Module* model, const c10::Device& device, torch::optim::Optimizer* optimizer,
                    std::vector<double>* r_before, EarlyStopping* early_stopping);

  // On rank 0, writes the checkpoint of `step` atomically, then keeps only the newest
  // keep_checkpoints. A no-op on the other ranks. REQUIRES: FindResume was called (it took the
  // dataset's fingerprint; an error from that is returned here).
  absl::Status Save(int64_t step, bool finished, const torch::nn::Module& model,
                    const torch::optim::Optimizer& optimizer, const std::vector<double>& r_before,
                    const EarlyStopping& early_stopping);

  // Where the checkpoint of `step` is written.
  std::string PathOf(int64_t step) const;

  // The model's input contract (model::PreprocessorConfigJson of the declared contract): Save
  // records it, and FindResume refuses a checkpoint trained on another (or on none, before
  // braintune applied contracts, when this one normalises or fixes a rate). Set before FindResume.
  void set_input_contract(std::string json) { input_contract_ = std::move(json); }

  // Writes the model alone to `path` atomically (the final checkpoint.pt), with its input
  // contract under "input_contract" (what `braintune eval` checks) and the participants it was
  // tuned on under "participants" and its test stories under "test_stories" (what an evaluation
  // holds out), and `lora_record` (empty: no adapters) under "lora".
  static absl::Status SaveModel(const std::string& path, const torch::nn::Module& model,
                                const std::string& input_contract, const std::vector<std::string>& participants,
                                const std::vector<std::string>& test_stories, const std::string& lora_record);

 private:
  // Step checkpoints in the directory, newest first.
  std::vector<std::pair<int64_t, std::string>> List() const;
  // On rank 0: why the loaded checkpoint at `path` must not be resumed, or "".
  std::string WhyNotResume(const std::string& path) const;

  const std::string dir_;        // <output>/checkpoints
  const std::string spec_text_;
  const std::string dataset_path_;
  std::string input_contract_;
  const config::TrainingSpec training_;
  dist::Communicator* const comm_;
  std::unique_ptr<torch::serialize::InputArchive> resume_;  // from FindResume to Load
  std::string resume_path_;
  // Rank 0's, taken by FindResume: what this launch trains on.
  absl::StatusOr<data::DatasetFingerprint> dataset_ = absl::FailedPreconditionError("FindResume was not called");
};

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_CHECKPOINTS_H_
