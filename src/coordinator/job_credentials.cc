#include "coordinator/job_credentials.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace braintune::coordinator {
namespace {

constexpr size_t kKeyBytes = 32;

}  // namespace

absl::StatusOr<JobCredentials> JobCredentials::LoadOrCreate(const std::string& key_path) {
  const int fd = ::open(key_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    unsigned char key[kKeyBytes];
    const bool ok = RAND_bytes(key, sizeof(key)) == 1 && ::write(fd, key, sizeof(key)) == static_cast<ssize_t>(sizeof(key)) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return absl::InternalError(absl::StrCat(key_path, ": cannot write the job credential key"));
    return JobCredentials(std::string(reinterpret_cast<char*>(key), sizeof(key)));
  }
  if (errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat(key_path, ": cannot create the job credential key: ", std::strerror(errno)));
  }
  ASSIGN_OR_RETURN(std::string key, ReadWholeFile(key_path, "job credential key"));
  if (key.size() != kKeyBytes) {
    return absl::DataLossError(absl::StrCat(key_path, ": the job credential key is not ", kKeyBytes, " bytes"));
  }
  return JobCredentials(std::move(key));
}

std::string JobCredentials::Mac(const std::string& job_id, int attempt) const {
  const std::string message = absl::StrCat("braintune job credential\n", job_id, "\n", attempt);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &n);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(mac), n));
}

std::string JobCredentials::Issue(const std::string& job_id, int attempt) const {
  return absl::StrCat("job.", job_id, ".", attempt, ".", Mac(job_id, attempt));
}

bool JobCredentials::LooksLikeOne(const std::string& token) { return absl::StartsWith(token, "job."); }

absl::StatusOr<JobCredentials::Launch> JobCredentials::Verify(const std::string& credential) const {
  const absl::Status invalid = absl::UnauthenticatedError("not a valid job credential");
  std::vector<std::string> parts = absl::StrSplit(credential, '.');
  // job . <id> . <attempt> . <mac>; job ids are "job-N" (no dots).
  if (parts.size() != 4 || parts[0] != "job" || credential.size() > 256) return invalid;
  Launch launch{parts[1], 0};
  if (!absl::SimpleAtoi(parts[2], &launch.attempt) || launch.attempt < 1) return invalid;
  const std::string expected = Mac(launch.job_id, launch.attempt);
  if (parts[3].size() != expected.size() || CRYPTO_memcmp(parts[3].data(), expected.data(), expected.size()) != 0) {
    return invalid;
  }
  return launch;
}

}  // namespace braintune::coordinator
