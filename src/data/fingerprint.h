// What identifies a dataset file cheaply, so that a job does not resume a checkpoint trained on
// a file that has since been regenerated at the same path (train/checkpoints.h). Reading every
// byte of a multi-GB file at each launch is not acceptable, so the fingerprint is the file's
// size and modification time plus a SHA-256 of what changes when the file is written again with
// other content: the HDF5 metadata (every object's path, kind, dtype, shape and stored size,
// every attribute's name, dtype, shape and value) and 16 blocks of 4 KiB sampled evenly across
// the file's bytes (the metadata of a dataset regenerated with another seed is the same; its
// numbers are not). Plain C++ types only: no LibTorch.
#ifndef BRAINTUNE_DATA_FINGERPRINT_H_
#define BRAINTUNE_DATA_FINGERPRINT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace braintune::data {

struct DatasetFingerprint {
  std::string path;        // as given
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;    // modification time, ns since the Unix epoch
  std::string sha256;      // hex, of the metadata and the sampled blocks

  // Size, modification time and hash agree (the path is not compared: the job spec holds it).
  bool SameFileAs(const DatasetFingerprint& other) const {
    return size_bytes == other.size_bytes && mtime_ns == other.mtime_ns && sha256 == other.sha256;
  }
  // For messages: "/x/brain.h5 (1234567 bytes, modified 2026-12-06 05:00:01.123456789 UTC,
  // content sha256 ab12cd34ef56ab78..)".
  std::string ToString() const;
};

// The fingerprint of the HDF5 file at `path`. Only objects stored in the file are visited (soft
// and external links count by their name, never followed), and no dataset's values are read.
// Errors name the path: NotFound when it cannot be opened, DataLoss when its metadata cannot be
// read. Thread model: any thread, one file per thread (serial HDF5).
absl::StatusOr<DatasetFingerprint> FingerprintDataset(const std::string& path);

}  // namespace braintune::data

#endif  // BRAINTUNE_DATA_FINGERPRINT_H_
