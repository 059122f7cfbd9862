#include "common/json.h"

#include <google/protobuf/util/json_util.h>

namespace braintune {

std::string ToJson(const google::protobuf::Message& m, bool one_line) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = !one_line;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

}  // namespace braintune
