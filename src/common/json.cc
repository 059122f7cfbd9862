#include "common/json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <memory>

namespace braintune {

std::string ToJson(const google::protobuf::Message& m, bool one_line) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = !one_line;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  // Map keys (a Struct's fields included) in sorted order, the same in every run: the printer
  // reads the message's binary form, which is deterministic only when asked for.
  std::string binary;
  {
    google::protobuf::io::StringOutputStream stream(&binary);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  static constexpr char kUrlPrefix[] = "type.googleapis.com";
  std::unique_ptr<google::protobuf::util::TypeResolver> resolver(
      google::protobuf::util::NewTypeResolverForDescriptorPool(kUrlPrefix, m.GetDescriptor()->file()->pool()));
  std::string out;
  (void)google::protobuf::util::BinaryToJsonString(
      resolver.get(), std::string(kUrlPrefix) + "/" + m.GetDescriptor()->full_name(), binary, &out, opts);
  return out;
}

}  // namespace braintune
