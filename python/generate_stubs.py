#!/usr/bin/python3
"""Generates the braintune package's gRPC stubs from the repository's proto/ files, with protoc's
Python output and the gRPC Python plugin (Debian: protobuf-compiler, protobuf-compiler-grpc).
The stubs are never copied by hand: the build (CMake's python_package target) and `pip install
./python` (setup.py) both call this.

    generate_stubs.py OUT_DIR     writes OUT_DIR/braintune/v1/*_pb2.py and *_pb2_grpc.py
"""
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(os.path.dirname(HERE), "proto")


def generate(out_dir):
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        sys.exit("generate_stubs: needs protoc and grpc_python_plugin (Debian: protobuf-compiler, "
                 "protobuf-compiler-grpc; scripts/install-deps installs them)")
    protos = sorted(glob.glob(os.path.join(PROTO_DIR, "braintune", "v1", "*.proto")))
    if not protos:
        sys.exit(f"generate_stubs: no .proto files under {PROTO_DIR}/braintune/v1")
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run([protoc, f"-I{PROTO_DIR}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
                    f"--plugin=protoc-gen-grpc_python={plugin}", *protos], check=True)
    # The generated modules import each other as braintune.v1.*: a package inside ours.
    open(os.path.join(out_dir, "braintune", "v1", "__init__.py"), "w").close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    generate(sys.argv[1])
