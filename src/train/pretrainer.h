// braintune-train's "pretrain" kind: a speech encoder taught to recognise phonemes from a
// dataset's own annotations, the CPU-scale stand-in for a published self-supervised speech model
// fine-tuned for speech recognition (docs/model.md, "Pretraining"). The result is a Hugging Face
// directory that a train or evaluate job starts from as model.pretrained.
//
// On each rank, with every rank holding the same spec:
//   1. Every rank reads the audio and the phoneme timings of all stories (no responses). The
//      test stories (data.test_stories; empty: the last) are held out; the labels are the
//      training stories' phonemes plus "SIL" (no phoneme), at most kMaxPhonemeLabels.
//   2. Each encoder frame's label is the phoneme playing at the centre of its receptive field.
//   3. Each step draws the same global batch of clips (data.context_seconds long, 0: 4 s) from the
//      training stories on every rank, seeded by (training.seed, step); rank r takes its share,
//      runs the encoder and a linear classifier of the last hidden state, and the frame-level
//      cross-entropy's gradients are averaged over the global batch's frames (ddp/reducer.h).
//   4. Before and after: frame accuracy on the test stories, in clips that tile them.
//   5. Rank 0 writes <output>/hf (config.json, model.safetensors, preprocessor_config.json with
//      the rate it heard), <output>/hf/phoneme_classifier.safetensors, <output>/phonemes.json
//      (the labels, in the classifier's order) and <output>/result.json.
// There are no step checkpoints: a relaunched pretraining job starts again.
#ifndef BRAINTUNE_TRAIN_PRETRAINER_H_
#define BRAINTUNE_TRAIN_PRETRAINER_H_

#include "absl/status/status.h"
#include "config/job_spec.h"
#include "dist/communicator.h"
#include "rank/rank.h"

namespace braintune::train {

// Labels beyond this many distinct phonemes are refused (a bounded classifier).
inline constexpr int kMaxPhonemeLabels = 1000;

// Runs the pretraining job of `spec` on this rank; every rank calls it with the same spec.
absl::Status RunPretraining(const config::LoadedSpec& spec, const rank::RankOptions& options,
                            dist::Communicator* comm);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_PRETRAINER_H_
