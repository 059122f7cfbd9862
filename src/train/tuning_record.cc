#include "train/tuning_record.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/files.h"
#include "common/json.h"

namespace braintune::train {

namespace fs = std::filesystem;

constexpr uintmax_t kMaxRecordBytes = 1 << 20;

v1::TuningRecord Lineage(const std::optional<v1::TuningRecord>& base, const std::vector<std::string>& participants,
                         const std::vector<std::string>& test_stories) {
  std::set<std::string> who(participants.begin(), participants.end());
  std::vector<std::string> held = test_stories;
  if (base) {
    who.insert(base->participants().begin(), base->participants().end());
    if (base->test_stories_size() > 0) {
      held.erase(std::remove_if(held.begin(), held.end(),
                                [&](const std::string& s) {
                                  return std::find(base->test_stories().begin(), base->test_stories().end(), s) ==
                                         base->test_stories().end();
                                }),
                 held.end());
    }
  }
  v1::TuningRecord r;
  for (const std::string& p : who) r.add_participants(p);
  for (const std::string& s : held) r.add_test_stories(s);
  return r;
}

absl::Status WriteTuningRecord(const std::string& dir, const v1::TuningRecord& record) {
  return WriteFileAtomically((fs::path(dir) / kTuningRecordFile).string(), ToJson(record));
}

absl::StatusOr<std::optional<v1::TuningRecord>> ReadTuningRecord(const std::string& dir) {
  const std::string path = (fs::path(dir) / kTuningRecordFile).string();
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(path, ec);
  if (status.type() == fs::file_type::not_found) return std::nullopt;
  // Any other failure to look is not "no record": the model would count as never tuned.
  if (ec) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read the tuning record (", ec.message(), ")"));
  if (status.type() != fs::file_type::regular) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the tuning record is not a regular file"));
  }
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size > kMaxRecordBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the tuning record is over 1 MiB"));
  }
  absl::StatusOr<std::string> text = ReadWholeFile(path, "tuning record");
  if (!text.ok()) return text.status();
  v1::TuningRecord r;
  if (!google::protobuf::util::JsonStringToMessage(*text, &r).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a tuning record (JSON with lists 'participants' and 'test_stories')"));
  }
  return r;
}

}  // namespace braintune::train
