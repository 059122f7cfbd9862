// braintune-train: one process per MPI rank, for every job kind: "train" (the protocol is in
// src/train/trainer.h), "evaluate" (src/eval/evaluator.h), "features" (src/eval/feature_export.h)
// and "pretrain" (src/train/pretrainer.h).
#include <iostream>

#include "common/flags.h"
#include "config/job_spec.h"
#include "dist/communicator.h"
#include "eval/evaluator.h"
#include "eval/feature_export.h"
#include "train/pretrainer.h"
#include "train/trainer.h"

int main(int argc, char** argv) {
  braintune::Flags f("braintune-train --spec FILE [flags]",
                     "Runs a job (kind train: brain-tuning; evaluate: brain alignment; features: model features to HDF5) "
                     "on this MPI rank. "
                     "Launched by braintune-worker through mpirun; also runs by hand: "
                     "mpirun -np 2 braintune-train --spec job.yaml --output-dir out");
  f.Value("spec", "", "job spec YAML (required)")
      .Value("job-id", "", "job id, for progress reports")
      .Value("coordinator", "", "coordinator HOST:PORT for progress reports (empty: none)")
      .Value("output-dir", "", "output directory when the spec sets none")
      .Value("threads", "0", "intra-op threads per rank (0: cores / ranks on this node)");
  f.ParseOrExit(argc, argv, 1, "braintune-train");
  if (f.Get("spec").empty()) {
    std::cerr << "braintune-train: --spec is required\n";
    return 2;
  }
  // The one parse of the spec in this process: the trainer and the evaluator get it parsed.
  auto spec = braintune::config::LoadJobSpecFile(f.Get("spec"));
  if (!spec.ok()) {
    std::cerr << "braintune-train: " << spec.status().message() << "\n";
    return 2;
  }
  auto comm = braintune::dist::MakeMpiCommunicator();
  if (!comm.ok()) {
    std::cerr << "braintune-train: " << comm.status().message() << "\n";
    return 1;
  }
  auto threads = f.GetInt("threads");
  if (!threads.ok() || *threads < 0) {
    std::cerr << "braintune-train: --threads must be a non-negative integer\n";
    return 2;
  }
  braintune::rank::RankOptions o{f.Get("job-id"), f.Get("coordinator"), f.Get("output-dir"),
                                 static_cast<int>(*threads)};
  const std::string& kind = spec->spec.kind;
  absl::Status s = kind == "evaluate"   ? braintune::eval::RunEvaluation(*spec, o, comm->get())
                   : kind == "features" ? braintune::eval::RunFeatureExport(*spec, o, comm->get())
                   : kind == "pretrain" ? braintune::train::RunPretraining(*spec, o, comm->get())
                                        : braintune::train::RunTrainer(*spec, o, comm->get());
  if (absl::IsAborted(s)) {  // stopped on request after checkpointing: 128 + SIGTERM, as if killed
    if ((*comm)->rank() == 0) std::cerr << "braintune-train: " << s.message() << std::endl;
    return 143;
  }
  if (!s.ok()) {
    std::cerr << "braintune-train: rank " << (*comm)->rank() << ": " << s.message() << std::endl;
    return 1;  // one rank (RunTrainer has already ended a job of several)
  }
  return 0;
}
