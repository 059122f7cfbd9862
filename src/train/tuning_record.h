// What a model learned from, carried beside its Hugging Face export: whose responses tuned it
// and which stories it never trained on, along its lineage (a pretraining, a brain-tuning from
// it, ...). An evaluation of the export reads it as it reads a checkpoint's record
// (train/checkpoints.h), so an exported model is scored on participants and stories it never
// saw as a checkpoint is (eval/participants.h). Torch-free.
#ifndef BRAINTUNE_TRAIN_TUNING_RECORD_H_
#define BRAINTUNE_TRAIN_TUNING_RECORD_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "braintune/v1/job.pb.h"

namespace braintune::train {

// <export dir>/kTuningRecordFile: JSON of v1::TuningRecord.
inline constexpr char kTuningRecordFile[] = "braintune_tuning.json";

// The record of a training on `participants` holding out `test_stories`, started from `base`
// (the record of its model.pretrained, when that has one): participants of both, and the test
// stories both held out (a base that recorded none held out nothing it says).
v1::TuningRecord Lineage(const std::optional<v1::TuningRecord>& base, const std::vector<std::string>& participants,
                         const std::vector<std::string>& test_stories);

absl::Status WriteTuningRecord(const std::string& dir, const v1::TuningRecord& record);

// The record in `dir`, or nullopt when there is none (a model from elsewhere). A record that
// cannot be looked at, is not a regular file (a link included), is over 1 MiB or is not valid is
// an error naming it.
absl::StatusOr<std::optional<v1::TuningRecord>> ReadTuningRecord(const std::string& dir);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_TUNING_RECORD_H_
