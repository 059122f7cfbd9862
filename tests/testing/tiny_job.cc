#include "testing/tiny_job.h"

#include <gtest/gtest.h>

#include <fstream>

#include "data/synthetic.h"

namespace braintune::testing {

void WriteTinyJob(const TempDir& dir, const TinyJob& job) {
  data::SynthOptions synth;
  synth.participants = job.participants;
  synth.stories = 3;
  synth.story_seconds = 60;
  synth.targets = 8;
  if (!std::ifstream(dir.File("brain.h5")).good()) {
    ASSERT_TRUE(data::WriteSyntheticDataset(dir.File("brain.h5"), synth).ok());
  }
  std::ofstream(dir.File(job.file)) << "name: " << job.name << "\nresources: {" << job.resources << "}\n"
                                      << "data: {path: brain.h5}\n"
                                      << "model: {conv_channels: 16, hidden: 32, layers: 1, heads: 4, ffn: 64}\n"
                                      << "training: {steps: " << job.steps << ", batch_size: 4, log_every: 5, "
                                      << "checkpoint_every: " << job.checkpoint_every << job.training << "}\n"
                                      << (job.output_dir.empty() ? "" : "output: {dir: " + job.output_dir + "}\n");
}

}  // namespace braintune::testing
