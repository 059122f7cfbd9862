"""A real braintune pool for the Python client's tests: a coordinator and a worker agent on
loopback, started from the build tree (BRAINTUNE_BUILD_DIR), with a small synthetic dataset."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

BUILD = os.environ.get("BRAINTUNE_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))


def binary(name):
    path = os.path.join(BUILD, "services", name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is not built")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pool:
    """Processes started here, stopped (SIGKILL of their process groups) at the end."""

    def __init__(self, directory):
        self.dir = directory
        self.procs = []

    def start(self, args, log):
        out = open(os.path.join(self.dir, log), "ab")
        p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def log(self, name):
        with open(os.path.join(self.dir, name), errors="replace") as f:
            return f.read()

    def stop(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            p.wait()


def wait_for(check, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"after {seconds} s: {what}")


def write_tiny_spec(directory, name="tiny", steps=6, more_training=""):
    """A job spec beside the dataset, its paths relative (resolved against its directory)."""
    path = os.path.join(directory, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(f"name: {name}\nresources: {{ranks: 1}}\ndata: {{path: brain.h5, test_stories: [story_02]}}\n"
                "model: {conv_channels: 16, hidden: 32, layers: 1, heads: 4, ffn: 64}\n"
                f"training: {{steps: {steps}, batch_size: 4, log_every: 5, checkpoint_every: 100{more_training}}}\n"
                f"output: {{dir: out/{name}}}\n")
    return path


@pytest.fixture(scope="session")
def pool():
    """A coordinator without access control and one worker with 2 slots; yields (address, Pool)."""
    directory = tempfile.mkdtemp(prefix="braintune-pytest-")
    p = Pool(directory)
    subprocess.run([binary("braintune"), "dataset", "synth", "--out", os.path.join(directory, "brain.h5"),
                    "--participants", "2", "--stories", "3", "--story-seconds", "60", "--targets", "8"],
                   check=True, capture_output=True)
    address = f"127.0.0.1:{free_port()}"
    p.start([binary("braintune-coordinator"), "--listen", address, "--db", os.path.join(directory, "jobs.db")],
            "coordinator.log")
    env_worker = [binary("braintune-worker"), "--coordinator", address, "--name", "py-node", "--slots", "2",
                  "--work-dir", os.path.join(directory, "work"), "--train-binary", binary("braintune-train")]
    p.start(env_worker, "worker.log")
    import braintune
    client = braintune.Client(address)
    wait_for(lambda: any(n.name == "py-node" for n in _nodes(client)), 30, "the worker registered")
    p.address = address
    yield p
    p.stop()
    shutil.rmtree(directory, ignore_errors=True)


def _nodes(client):
    try:
        return client.nodes()
    except Exception:  # not serving yet
        return []
