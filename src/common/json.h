// JSON for users' tools: protobuf messages printed with their .proto field names (what Python
// users index by) and every field present, zero values included.
#ifndef BRAINTUNE_COMMON_JSON_H_
#define BRAINTUNE_COMMON_JSON_H_

#include <google/protobuf/message.h>

#include <string>

namespace braintune {

std::string ToJson(const google::protobuf::Message& m, bool one_line = false);

}  // namespace braintune

#endif  // BRAINTUNE_COMMON_JSON_H_
