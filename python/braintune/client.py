"""The job API from Python: what the `braintune` CLI does, for notebooks and scripts.

    from braintune import Client
    client = Client()                       # BRAINTUNE_COORDINATOR, BRAINTUNE_TOKEN, ... as the CLI
    job = client.submit("configs/quickstart.yaml")
    job = client.wait(job.id)               # a progress bar; raises JobFailed unless it succeeds
    print(job.result.mean_pearson_r)

Jobs are the protobuf messages of proto/braintune/v1/job.proto (`job.state`, `job.progress.step`,
...); `as_dict(job)` gives the JSON the CLI prints with `--output json`.
"""
import os

import grpc
import yaml
from google.protobuf import json_format

from braintune.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

TERMINAL = {job_pb2.SUCCEEDED, job_pb2.FAILED, job_pb2.CANCELLED}
DEFAULT_ADDRESS = "127.0.0.1:50051"


class BraintuneError(Exception):
    """A call the coordinator refused or could not serve: `code` is the gRPC status code
    (grpc.StatusCode.NOT_FOUND, ...), `details` the coordinator's message."""

    def __init__(self, code, details):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class JobFailed(BraintuneError):
    """A waited-for job ended FAILED or CANCELLED; `job` is its last state, `details` why."""

    def __init__(self, job):
        state = job_pb2.JobState.Name(job.state)
        super().__init__(grpc.StatusCode.ABORTED, f"job {job.id} ended {state}: {job.message}")
        self.job = job


def state_name(job):
    """"RUNNING", "SUCCEEDED", ... of a job."""
    return job_pb2.JobState.Name(job.state)


def as_dict(message):
    """A message as the CLI's --output json prints it (the .proto field names)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _first_line(path):
    with open(path) as f:
        return f.readline().strip()


def _token_from_environment():
    """As the CLI (src/common/grpc_client.h): BRAINTUNE_TOKEN, else the file BRAINTUNE_TOKEN_FILE,
    else ~/.config/braintune/token if it exists."""
    if os.environ.get("BRAINTUNE_TOKEN"):
        return os.environ["BRAINTUNE_TOKEN"]
    if os.environ.get("BRAINTUNE_TOKEN_FILE"):
        return _first_line(os.environ["BRAINTUNE_TOKEN_FILE"])
    default = os.path.expanduser("~/.config/braintune/token")
    return _first_line(default) if os.path.exists(default) else None


class Client:
    """One connection to a braintune coordinator.

    address: HOST:PORT (default BRAINTUNE_COORDINATOR, else 127.0.0.1:50051).
    token: a bearer token (default as the CLI: BRAINTUNE_TOKEN, BRAINTUNE_TOKEN_FILE,
        ~/.config/braintune/token).
    tls_ca: a PEM file: TLS, checking the coordinator's certificate against it (default
        BRAINTUNE_TLS_CA; none: plaintext). tls_server_name: the name the certificate must carry
        when it is not the address's host (default BRAINTUNE_TLS_SERVER_NAME).
    timeout: seconds for each call (watching and log streams last as long as they must).
    """

    def __init__(self, address=None, token=None, tls_ca=None, tls_server_name=None, timeout=30.0):
        self.address = address or os.environ.get("BRAINTUNE_COORDINATOR") or DEFAULT_ADDRESS
        self._token = token if token is not None else _token_from_environment()
        tls_ca = tls_ca or os.environ.get("BRAINTUNE_TLS_CA")
        tls_server_name = tls_server_name or os.environ.get("BRAINTUNE_TLS_SERVER_NAME")
        self.timeout = timeout
        if tls_ca:
            with open(tls_ca, "rb") as f:
                credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
            options = [("grpc.ssl_target_name_override", tls_server_name)] if tls_server_name else []
            self._channel = grpc.secure_channel(self.address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(self.address)
        self._stub = job_service_pb2_grpc.JobServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _metadata(self):
        return [("authorization", f"Bearer {self._token}")] if self._token else []

    def _call(self, method, request, timeout="default"):
        try:
            return method(request, metadata=self._metadata(), timeout=self.timeout if timeout == "default" else timeout)
        except grpc.RpcError as e:
            raise self._error(e) from None

    def _error(self, e):
        code, details = e.code(), e.details()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            details = f"cannot reach the coordinator at {self.address} ({details}); is braintune-coordinator running?"
        return BraintuneError(code, details)

    # --- jobs

    def submit(self, spec, user=None, base_dir=None):
        """Submits a job spec: a path to a YAML file, a YAML string, or a dict (docs/job-spec.md).
        Relative paths in it (data.path, output.dir, ...) are resolved as the CLI resolves them:
        against the file's directory, or for a string or dict against `base_dir` (default the
        current directory). Returns the new job (QUEUED); errors name the key that is wrong."""
        if isinstance(spec, dict):
            text, source = yaml.safe_dump(spec, sort_keys=False), "<dict>"
            base_dir = base_dir or os.getcwd()
        elif isinstance(spec, (str, os.PathLike)) and "\n" not in str(spec) and os.path.isfile(spec):
            source = os.path.abspath(spec)
            with open(source) as f:
                text = f.read()
            base_dir = os.path.dirname(source)
        elif isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec and spec.endswith((".yaml", ".yml"))):
            raise FileNotFoundError(f"job spec {spec}: no such file")
        elif isinstance(spec, str):
            text, source = spec, "<string>"
            base_dir = base_dir or os.getcwd()
        else:
            raise TypeError("spec must be a path, a YAML string or a dict")
        request = job_service_pb2.SubmitJobRequest(
            spec=job_pb2.JobSpec(spec_yaml=text, source_file=source, base_dir=os.path.abspath(base_dir)),
            user=user or os.environ.get("USER", ""))
        return self._call(self._stub.SubmitJob, request).job

    def get(self, job_id):
        """The job with its events, placement, progress history and result."""
        return self._call(self._stub.GetJob, job_service_pb2.GetJobRequest(job_id=job_id)).job

    def list(self, states=None, limit=None):
        """Jobs oldest first (without events): all of them, or the newest `limit`; `states` a list of
        names ("RUNNING") to keep only those."""
        request = job_service_pb2.ListJobsRequest(
            states=[job_pb2.JobState.Value(s.upper()) if isinstance(s, str) else s for s in (states or [])],
            limit=limit or 0, page_size=1000)
        jobs = []
        while True:
            page = self._call(self._stub.ListJobs, request)
            jobs.extend(page.jobs)
            if not page.next_page_token:
                return jobs
            request.page_token = page.next_page_token

    def cancel(self, job_id):
        """Cancels a job: queued ones end at once, running ranks are stopped."""
        return self._call(self._stub.CancelJob, job_service_pb2.CancelJobRequest(job_id=job_id)).job

    def nodes(self):
        """The pool's worker nodes (state, slots and GPUs in use, your jobs on them)."""
        return list(self._call(self._stub.ListNodes, job_service_pb2.ListNodesRequest()).nodes)

    def watch(self, job_id, progress=True):
        """Yields the job at each change until it ends. With `progress`, a progress bar (tqdm, in
        a notebook its widget when ipywidgets is there) follows the training steps."""
        bar = _ProgressBar(job_id) if progress else None
        stream = self._stub.WatchJob(job_service_pb2.WatchJobRequest(job_id=job_id), metadata=self._metadata())
        try:
            for response in stream:
                if bar:
                    bar.update(response.job)
                yield response.job
        except grpc.RpcError as e:
            raise self._error(e) from None
        finally:
            if bar:
                bar.close()
            stream.cancel()

    def wait(self, job_id, progress=True):
        """Waits for the job to end: returns it when it SUCCEEDED, raises JobFailed (with the job
        and its reason) when it FAILED or was CANCELLED."""
        last = None
        for last in self.watch(job_id, progress=progress):
            pass
        if last is None or last.state not in TERMINAL:  # the stream ended early: ask once more
            last = self.get(job_id)
        if last.state != job_pb2.SUCCEEDED:
            raise JobFailed(last)
        return last

    def logs(self, job_id, follow=False):
        """Yields the job's output (every launch's, as the coordinator holds it) as text pieces;
        with `follow`, until the job has ended and all its output arrived."""
        stream = self._stub.StreamLogs(job_service_pb2.StreamLogsRequest(job_id=job_id, follow=follow),
                                       metadata=self._metadata(), timeout=None if follow else self.timeout)
        try:
            for piece in stream:
                yield piece.data.decode("utf-8", errors="replace")
        except grpc.RpcError as e:
            raise self._error(e) from None


class _ProgressBar:
    """A tqdm bar over a job's steps, when tqdm is installed; otherwise one line per state."""

    def __init__(self, job_id):
        self.job_id = job_id
        self.bar = None
        self.state = None
        try:  # a notebook widget where ipywidgets is installed, else the text bar
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm
        except ImportError:
            try:
                from tqdm.std import tqdm
            except ImportError:
                tqdm = None
        self.tqdm = tqdm

    def update(self, job):
        state = state_name(job)
        p = job.progress
        if state != self.state:
            self.state = state
            if self.bar is None:
                print(f"{job.id} {state}: {job.message}", flush=True)
        if self.tqdm is None or p.total_steps <= 0 or state != "RUNNING":
            if self.bar is not None:
                self.bar.set_description(f"{job.id} {state}")
            return
        if self.bar is None:
            self.bar = self.tqdm(total=p.total_steps, desc=f"{job.id} {p.phase}", unit="step")
        self.bar.n = p.step
        if job.spec.kind == "evaluate":  # stages, not optimizer steps: no loss to show
            self.bar.set_postfix_str(p.phase, refresh=False)
        else:
            self.bar.set_postfix(loss=f"{p.loss:.4f}", refresh=False)
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
