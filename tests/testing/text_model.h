// A random tiny Hugging Face text model for the tests of the text path: a tokenizer fitted to a
// synthetic brain's words and a model of that vocabulary (bench/reference/text_reference.py).
#ifndef BRAINTUNE_TESTS_TESTING_TEXT_MODEL_H_
#define BRAINTUNE_TESTS_TESTING_TEXT_MODEL_H_

#include <string>

#include "testing/process.h"

namespace braintune::testing {

// Reads every story's words of the dataset at dir/<dataset>, fits a byte-level BPE and a
// WordPiece vocabulary to them (200 merges; dir/tok/gpt2, dir/tok/bert) and writes a random
// tiny model of `kind` (gpt2 or bert) with its tokenizer files to dir/<kind>. Fails the test
// (gtest ASSERT) when a step fails.
void WriteTextModelForDataset(const TempDir& dir, const std::string& dataset, const std::string& kind);

}  // namespace braintune::testing

#endif  // BRAINTUNE_TESTS_TESTING_TEXT_MODEL_H_
