// The owner of the precompiled <torch/torch.h> that every LibTorch target reuses (CMakeLists.txt,
// braintune_torch_pch); it compiles nothing of its own.
