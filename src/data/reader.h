// Random access to a dataset file that has already been checked with ReadDataset: ranges of
// response rows and of audio samples, read as HDF5 hyperslabs, so a trainer keeps only what its
// next batches need in memory (a dataset larger than memory still trains).
#ifndef BRAINTUNE_DATA_READER_H_
#define BRAINTUNE_DATA_READER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace braintune::data {

// Thread model: not thread-safe; use one reader from one thread at a time (Debian's HDF5 is
// the serial build). Keeps the file and the datasets it touched open until destroyed.
class DatasetReader {
 public:
  static absl::StatusOr<std::unique_ptr<DatasetReader>> Open(const std::string& path);
  ~DatasetReader();
  DatasetReader(const DatasetReader&) = delete;
  DatasetReader& operator=(const DatasetReader&) = delete;

  // Rows [row_begin, row_begin + rows) of /participants/<pid>/runs/<story>/responses into
  // out[rows * n_targets]. REQUIRES: the range lies inside the dataset.
  absl::Status ReadResponseRows(const std::string& pid, const std::string& story, int64_t row_begin,
                                int64_t rows, float* out);

  // Samples [begin, begin + count) of /stimuli/<story>/audio into out[count]; the parts of the
  // range outside the audio are zeros (windows that start before the story).
  absl::Status ReadAudio(const std::string& story, int64_t begin, int64_t count, float* out);

  // Bytes read from the file so far (for throughput figures).
  int64_t bytes_read() const { return bytes_read_; }

 private:
  struct Impl;
  explicit DatasetReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int64_t bytes_read_ = 0;
};

}  // namespace braintune::data

#endif  // BRAINTUNE_DATA_READER_H_
