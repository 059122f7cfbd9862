"""The Python client against a real coordinator and worker (conftest.py): what a researcher does
in a notebook, and the errors they get."""
import os
import subprocess

import grpc
import pytest

import braintune
from conftest import binary, free_port, wait_for, write_tiny_spec


def test_submit_a_file_watch_it_succeed_and_read_its_result(pool):
    client = braintune.Client(pool.address)
    spec = write_tiny_spec(pool.dir, "tiny")
    job = client.submit(spec)
    assert braintune.state_name(job) == "QUEUED"
    # The spec's relative paths were resolved against its directory, as the CLI does.
    assert f"path: {pool.dir}/brain.h5" in job.spec.spec_yaml
    states = [braintune.state_name(j) for j in client.watch(job.id, progress=False)]
    assert states[-1] == "SUCCEEDED", pool.log("worker.log")[-3000:]
    assert "RUNNING" in states
    done = client.wait(job.id, progress=False)
    assert done.progress.step == 6
    assert len(done.history) >= 1, "the loss history the dashboard and status draw"
    assert braintune.as_dict(done)["state"] == "SUCCEEDED"
    result = braintune.load_result(done)
    assert {s["participant"] for s in result["scores"]} == {"sub-01", "sub-02"}
    assert "step" in "".join(client.logs(job.id)), "the ranks' output"
    assert any(j.id == job.id for j in client.list(states=["SUCCEEDED"]))


def test_a_dict_spec_is_resolved_against_base_dir_and_cancelling_raises_on_wait(pool):
    client = braintune.Client(pool.address)
    spec = {"name": "long", "resources": {"ranks": 1}, "data": {"path": "brain.h5", "test_stories": ["story_02"]},
            "model": {"conv_channels": 16, "hidden": 32, "layers": 1, "heads": 4, "ffn": 64},
            "training": {"steps": 100000, "batch_size": 4, "log_every": 5, "patience": 0},
            "output": {"dir": "out/long"}}
    job = client.submit(spec, base_dir=pool.dir)
    assert f"dir: {pool.dir}/out/long" in job.spec.spec_yaml
    wait_for(lambda: client.get(job.id).progress.step > 0, 60, "the long job trains")
    assert braintune.state_name(client.cancel(job.id)) in ("RUNNING", "CANCELLED")
    with pytest.raises(braintune.JobFailed) as failed:
        client.wait(job.id, progress=False)
    assert braintune.state_name(failed.value.job) == "CANCELLED"
    assert "cancelled" in failed.value.details


def test_errors_carry_the_grpc_status_and_the_coordinators_message(pool):
    client = braintune.Client(pool.address)
    with pytest.raises(braintune.BraintuneError) as bad:
        client.submit("name: x\ndata: {path: /d.h5}\ntraining: {stepz: 1}\n")
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "stepz" in bad.value.details
    with pytest.raises(braintune.BraintuneError) as missing:
        client.get("job-999999")
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(FileNotFoundError):
        client.submit(os.path.join(pool.dir, "no-such-spec.yaml"))
    with pytest.raises(braintune.BraintuneError) as down:
        braintune.Client(f"127.0.0.1:{free_port()}", timeout=2).list()
    assert down.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert "cannot reach the coordinator" in down.value.details


def test_nodes_and_the_dataset_summary(pool):
    nodes = braintune.Client(pool.address).nodes()
    assert [n.name for n in nodes] == ["py-node"] and nodes[0].cpu_slots == 2
    d = braintune.open_dataset(os.path.join(pool.dir, "brain.h5"))
    assert d.modality == "fmri" and sorted(d.participants) == ["sub-01", "sub-02"]
    assert sorted(d.stories) == ["story_00", "story_01", "story_02"]
    story = d.stories["story_00"]
    assert abs(story.seconds - 60) < 1 and story.words > 0 and story.phonemes > story.words
    assert story.heard_by == ["sub-01", "sub-02"]
    assert d.participants["sub-01"].rois.keys() == {"auditory", "language"}
    assert "2 participants, 3 stories" in repr(d)
    import h5py
    h5py.File(os.path.join(pool.dir, "not-a-dataset.h5"), "w").close()
    with pytest.raises(ValueError, match="attribute format"):
        braintune.open_dataset(os.path.join(pool.dir, "not-a-dataset.h5"))


def test_with_access_control_a_token_is_needed_and_taken_from_the_environment(tmp_path, monkeypatch):
    db = str(tmp_path / "jobs.db")
    token = subprocess.run([binary("braintune-coordinator"), "token", "create", "--db", db, "--user", "ann",
                            "--role", "user"], check=True, capture_output=True, text=True).stdout.split()[0]
    (tmp_path / "policy.yaml").write_text("users:\n  ann: {account: bt-ann}\n")
    address = f"127.0.0.1:{free_port()}"
    coordinator = subprocess.Popen([binary("braintune-coordinator"), "--listen", address, "--db", db, "--auth",
                                    "--policy", str(tmp_path / "policy.yaml")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        monkeypatch.delenv("BRAINTUNE_TOKEN", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/braintune/token
        wait_for(lambda: _refused(address), 30, "the coordinator serves")
        with pytest.raises(braintune.BraintuneError) as anonymous:
            braintune.Client(address).list()
        assert anonymous.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert braintune.Client(address, token=token).list() == []
        (tmp_path / "token").write_text(token + "\n")
        monkeypatch.setenv("BRAINTUNE_TOKEN_FILE", str(tmp_path / "token"))
        job = braintune.Client(address).submit("name: mine\ndata: {path: /d.h5}\n")
        assert job.user == "ann", "the job is the token's user's"
    finally:
        coordinator.kill()
        coordinator.wait()


def _refused(address):
    try:
        braintune.Client(address, token="", timeout=2).list()
    except braintune.BraintuneError as e:
        return e.code == grpc.StatusCode.UNAUTHENTICATED
    return False


def test_pip_installs_the_package_with_its_stubs_from_debians_setuptools(tmp_path):
    """`pip install --no-build-isolation ./python` (docs/python.md): no network, stubs generated."""
    python_dir = os.path.join(os.path.dirname(__file__), "..", "..", "python")
    r = subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
                        "--target", str(tmp_path / "site"), python_dir], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    check = subprocess.run(["/usr/bin/python3", "-c", "import braintune, braintune.importers.narratives; "
                            "from braintune.v1 import job_service_pb2_grpc; print(braintune.__file__)"],
                           cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=str(tmp_path / "site")),
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(str(tmp_path / "site")), "the installed copy, not the build tree's"
