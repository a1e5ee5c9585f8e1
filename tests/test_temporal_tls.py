"""A secured Temporal: client certificates (mTLS), a private CA, a server name and an API key reach the server.

The dev server speaks plain gRPC, so it sits behind a TLS terminator here that, like a secured
cluster, accepts only clients presenting a certificate from the cluster's CA.
"""

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.testing import WorkflowEnvironment

from stack.codec import ENV as CODEC_ENV
from stack.config import load_settings
from stack.temporal import DEV_SERVER, connect
from tests.codec_key import CONVERTER, TEST_CODEC_KEYS
from worker import connect_or_exit

ROOT = Path(__file__).resolve().parent.parent
GUARANTEE = Path(sys.executable).parent / "guarantee"
SERVER_NAME = "temporal.cluster.test"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(folder: Path, cn: str, ca=None, *, server=False):
    """A key and a certificate signed by `ca` (a (cert, key) pair), or a self-signed CA; PEM files in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca[0].subject if ca else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
    )
    if server:
        names = [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca[1] if ca else key, hashes.SHA256())
    (folder / f"{cn}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / f"{cn}.key").write_bytes(key_pem)
    return cert, key


class TlsTerminator:
    """TLS (HTTP/2 by ALPN) in front of a plain gRPC port, requiring a client certificate from `ca`."""

    def __init__(self, folder: Path, upstream: str):
        self.host, port = upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=folder / "cluster-ca.pem")
        self.context.load_cert_chain(folder / "frontend.pem", folder / "frontend.key")
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.set_alpn_protocols(["h2"])
        self.clients: list[str] = []  # the common name of each client certificate presented

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.address = f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *_):
        self.server.close()

    async def _serve(self, reader, writer):
        subject = dict(field[0] for field in writer.get_extra_info("peercert")["subject"])
        self.clients.append(subject["commonName"])
        up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)

        async def pipe(src, dst):
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = _issue(folder, "cluster-ca")
    _issue(folder, "frontend", ca, server=True)
    _issue(folder, "guarantee-worker", ca)
    _issue(folder, "stranger", _issue(folder, "other-ca"))
    return folder


@pytest.fixture(scope="module")
async def dev_server():
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(DEV_SERVER), data_converter=CONVERTER)
    yield env.client.service_client.config.target_host
    await env.shutdown()


@pytest.fixture
def cluster_env(monkeypatch, tmp_path):
    """A clean environment for load_settings(): the tests' codec key, no Temporal variables."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GUARANTEE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(CODEC_ENV, TEST_CODEC_KEYS)
    return monkeypatch


async def test_a_client_certificate_a_private_ca_and_an_api_key_reach_a_secured_cluster(pki, dev_server, cluster_env):
    async with TlsTerminator(pki, dev_server) as cluster:
        cluster_env.setenv("TEMPORAL_ADDRESS", cluster.address)
        cluster_env.setenv("TEMPORAL_TLS_CERT", str(pki / "guarantee-worker.pem"))
        cluster_env.setenv("TEMPORAL_TLS_KEY", str(pki / "guarantee-worker.key"))
        cluster_env.setenv("TEMPORAL_TLS_CA", str(pki / "cluster-ca.pem"))
        cluster_env.setenv("TEMPORAL_TLS_SERVER_NAME", SERVER_NAME)
        cluster_env.setenv("TEMPORAL_API_KEY", "tk_cluster_key")
        client = await connect(load_settings())
        assert (await client.workflow_service.get_system_info(GetSystemInfoRequest())).server_version
        assert cluster.clients and set(cluster.clients) == {"guarantee-worker"}, "the worker's certificate was shown"
        assert client.api_key == "tk_cluster_key"
        assert client.service_client.config.api_key == "tk_cluster_key"
        assert client.data_converter.payload_codec is not None


async def test_without_a_client_certificate_a_secured_cluster_refuses(pki, dev_server, cluster_env):
    async with TlsTerminator(pki, dev_server) as cluster:
        cluster_env.setenv("TEMPORAL_ADDRESS", cluster.address)
        cluster_env.setenv("TEMPORAL_TLS_CA", str(pki / "cluster-ca.pem"))
        cluster_env.setenv("TEMPORAL_TLS_SERVER_NAME", SERVER_NAME)
        with pytest.raises(SystemExit, match=f"^error: cannot reach Temporal at {cluster.address}: "):
            await connect_or_exit(load_settings())
        cluster_env.setenv("TEMPORAL_TLS_CERT", str(pki / "stranger.pem"))
        cluster_env.setenv("TEMPORAL_TLS_KEY", str(pki / "stranger.key"))
        with pytest.raises(SystemExit, match="^error: cannot reach Temporal"):
            await connect_or_exit(load_settings())
        assert cluster.clients == []


async def test_an_api_key_alone_turns_tls_on(dev_server, cluster_env):
    cluster_env.setenv("TEMPORAL_ADDRESS", dev_server)
    cluster_env.setenv("TEMPORAL_API_KEY", "tk_cloud_key")
    with pytest.raises(SystemExit, match="^error: cannot reach Temporal"):  # the dev server speaks no TLS
        await connect_or_exit(load_settings())


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"TEMPORAL_TLS_CERT": "{missing}/worker.pem", "TEMPORAL_TLS_KEY": "{pki}/guarantee-worker.key"},
         "error: TEMPORAL_TLS_CERT: cannot read {missing}/worker.pem: No such file or directory"),
        ({"TEMPORAL_TLS_CERT": "{pki}/guarantee-worker.pem", "TEMPORAL_TLS_KEY": "{missing}/worker.key"},
         "error: TEMPORAL_TLS_KEY: cannot read {missing}/worker.key: No such file or directory"),
        ({"TEMPORAL_TLS_CERT": "{pki}/guarantee-worker.pem"},
         "error: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both or neither"),
        ({"TEMPORAL_TLS_CA": "{missing}/ca.pem"},
         "error: TEMPORAL_TLS_CA: cannot read {missing}/ca.pem: No such file or directory"),
    ],
    ids=["no cert file", "no key file", "cert without key", "no CA file"],
)  # fmt: skip
async def test_tls_settings_that_cannot_work_say_which_and_why(pki, tmp_path, cluster_env, variables, message):
    missing = tmp_path / "nowhere"
    cluster_env.setenv("TEMPORAL_ADDRESS", "127.0.0.1:7233")
    for name, value in variables.items():
        cluster_env.setenv(name, value.format(missing=missing, pki=pki))
    with pytest.raises(SystemExit) as exit_:
        await connect_or_exit(load_settings())
    assert exit_.value.code == message.format(missing=missing, pki=pki)


def test_a_worker_with_a_missing_certificate_file_says_so_in_one_line(pki, tmp_path):
    missing = tmp_path / "nowhere" / "worker.pem"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "GUARANTEE_", "STRIPE_"))}
    env |= {"TEMPORAL_ADDRESS": "127.0.0.1:7233", "TEMPORAL_TLS_CERT": str(missing)}
    env |= {"TEMPORAL_TLS_KEY": str(pki / "guarantee-worker.key"), "STRIPE_API_BASE": "http://127.0.0.1:9"}
    env |= {"GUARANTEE_HOME": str(tmp_path / "home"), CODEC_ENV: TEST_CODEC_KEYS, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(GUARANTEE), "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"error: TEMPORAL_TLS_CERT: cannot read {missing}: No such file or directory\n"
