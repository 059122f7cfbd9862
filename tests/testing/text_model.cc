#include "testing/text_model.h"

#include <gtest/gtest.h>

namespace braintune::testing {

void WriteTextModelForDataset(const TempDir& dir, const std::string& dataset, const std::string& kind) {
  const std::string py = std::string("/usr/bin/python3 ") + BRAINTUNE_SOURCE_DIR + "/bench/reference/text_reference.py ";
  auto words = RunCommand(
      "/usr/bin/python3 -c \"import h5py; f = h5py.File('" + dir.File(dataset) +
      "', 'r'); w = [x.decode() for s in sorted(f['stimuli']) for x in f['stimuli'][s]['words']['text'][:]]; "
      "open('" + dir.File("words.txt") + "', 'w').write(' '.join(w))\"");
  ASSERT_EQ(words.exit_code, 0) << words.output;
  for (const std::string& cmd :
       {py + "make-tokenizers --merges 200 --text " + dir.File("words.txt") + " --out " + dir.File("tok"),
        py + "make-model --kind " + kind + " --tokenizer " + dir.File("tok/" + kind) + " --out " + dir.File(kind)}) {
    auto r = RunCommand(cmd);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
}

}  // namespace braintune::testing
