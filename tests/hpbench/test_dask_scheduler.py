"""``check_scheduler``: a malformed or unreachable scheduler address is refused at once with
one line; a TLS scheduler is reached with the credentials of the dask config, also by
``hpbench run --scheduler tls://…``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from hpbench.dask_backend import check_scheduler
from tests.conftest import values_frame


def _refused(match: str, address, **kw) -> str:
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=match) as info:
        check_scheduler(address, **kw)
    assert time.monotonic() - t0 < 4, "the check must answer in a few seconds"
    message = str(info.value)
    assert "\n" not in message and len(message) < 300, message
    return message


@pytest.mark.parametrize("address, match", [
    ("tcp//sched-host:8786", r"is not like tcp://HOST:PORT \(schemes: .*tcp://, tls://"),
    ("sched-host", "is not like tcp://HOST:PORT"),
    ("http://sched-host:8786", r"unknown scheme http:// .* \(accepted: .*inproc://.*tls://"),
    ("tcp://sched-host", r"needs a port number \(1-65535\) after the host, like tcp://HOST:8786"),
    ("tls://sched-host:99999", "needs a port number"),
    ("tcp://sched-host:87a6", "needs a port number"),
    ("tcp://:8786", "has no valid host name"),
    ("tcp://sched host:8786", "has no valid host name"),
    ("", "scheduler address must be like tcp://HOST:PORT"),
])
def test_malformed_address_is_refused_in_one_line(address, match):
    _refused(match, address)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_refused_in_one_line():
    address = f"tcp://127.0.0.1:{_free_port()}"
    message = _refused("no Dask scheduler answers at", address)
    assert message == f"no Dask scheduler answers at {address} within 5 s (connection refused)"
    _refused(r"no Dask scheduler answers at tcp://no-such-host\.invalid:8786 within 5 s",
             "tcp://no-such-host.invalid:8786")


def test_silent_listener_times_out():
    """Something accepts connections but never speaks (a wedged process, a port forward to
    nowhere): refused after the timeout, not after the client's 30 s."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        message = _refused("no Dask scheduler answers", address, timeout=1.0)
    assert message.startswith(f"no Dask scheduler answers at {address} within 1 s"), message


def test_live_scheduler_passes():
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        t0 = time.monotonic()
        check_scheduler(cluster.scheduler_address)
        check_scheduler(cluster.scheduler_address.removeprefix("tcp://"))  # tcp by default
        assert time.monotonic() - t0 < 2


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (its own CA), made offline with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=hpbench-test", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def test_tls_scheduler_with_credentials_from_the_dask_config(cli, tmp_path, certificate):
    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    cert, key = certificate
    security = Security(tls_ca_file=cert, tls_scheduler_cert=cert, tls_scheduler_key=key,
                        tls_worker_cert=cert, tls_worker_key=key, tls_client_cert=cert,
                        tls_client_key=key, require_encryption=True)
    suite = tmp_path / "s.toml"
    suite.write_text('name = "tls"\nproblems = ["branin"]\noptimizers = ["random"]\n'
                     "repeats = 2\nbudget = 5\nseed = 4\n")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, protocol="tls",
                      security=security, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        _refused(r"needs TLS credentials: set distributed\.comm\.tls\.ca-file, \.client\.cert "
                 r"and \.client\.key", address)
        with dask.config.set({"distributed.comm.tls.ca-file": cert,
                              "distributed.comm.tls.client.cert": cert,
                              "distributed.comm.tls.client.key": key}):
            check_scheduler(address)
        # the CLI's client reads the same keys from the environment (or a dask YAML file)
        env = {"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": cert,
               "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": cert,
               "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": key}
        res = cli("run", suite, "--out", tmp_path / "tls", "--scheduler", address,
                  "--no-progress", env=env, timeout=120)
    assert res.returncode == 0 and "2 cells (2 done)" in res.stdout, res.stdout + res.stderr
    ref = cli("run", suite, "--out", tmp_path / "serial", "--no-progress", timeout=120)
    assert ref.returncode == 0, ref.stderr
    assert values_frame(tmp_path / "tls").equals(values_frame(tmp_path / "serial"))
    assert not os.environ.get("DASK_DISTRIBUTED__COMM__TLS__CA_FILE")  # nothing leaked
