"""A Python handle on a running stub's admin routes (/_stub/...), for tests and scripts.

They need the stub's own key (see `stripe_stub.admin`); `key` defaults to the one a stub starts with.

control = StubControl(url)                  # or StubControl(url, key="sk_test_...")
control.reset(balance={"usd": 100_000})
charge = control.seed(charges=[{"amount": 5000, "currency": "usd"}])["charges"][0]
control.faults(declined_destinations=["acct_bad"], empty_balance=True)
control.clock(frozen_at=1_700_000_000)
"""

import httpx

from stack.config import STUB_API_KEY


class StubControl:
    def __init__(self, url: str, key: str = STUB_API_KEY, *, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {key}"}
        self._timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = httpx.request(
            method, f"{self.url}/_stub/{path}", json=body, headers=self._headers, timeout=self._timeout
        )
        if response.status_code >= 400:
            raise RuntimeError(f"stripe stub: {method} /_stub/{path} answered {response.status_code}: {response.text}")
        return response.json()

    def health(self) -> bool:
        return self._call("GET", "health").get("ok") is True

    def reset(self, balance: dict[str, int] | None = None) -> dict:
        """A fresh stub: no objects, no keys, no faults, real time; `balance` or the default one."""
        return self._call("POST", "reset", {"balance": balance} if balance is not None else {})

    def seed(self, *, balance: dict[str, int] | None = None, charges: list[dict] = ()) -> dict:
        """Charges created (their amounts join the balance), then `balance` set per currency."""
        body: dict = {"charges": list(charges)}
        if balance is not None:
            body["balance"] = balance
        return self._call("POST", "seed", body)

    def faults(self, **config) -> dict:
        """Replace the fault configuration (see `stripe_stub.faults`); no arguments: all off."""
        return self._call("POST", "faults", config)

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    def describe_faults(self) -> dict:
        """The fault configuration in force and the faults injected since: {"faults", "injected"}."""
        return self._call("GET", "faults")

    def injected(self) -> dict[str, int]:
        """How many faults of each kind were injected since the configuration was set."""
        return self._call("GET", "faults")["injected"]

    def observed(self) -> dict:
        """All GET /_stub/faults knows: the configuration, the faults injected and planned faults done
        since it was set, the transfer/refund creations in flight now, the withheld answers abandoned."""
        return self._call("GET", "faults")

    def clock(self, *, frozen_at: int | None = None, advance: int = 0, unfreeze: bool = False) -> dict:
        return self._call("POST", "clock", {"frozen_at": frozen_at, "advance": advance, "unfreeze": unfreeze})

    def state(self) -> dict:
        return self._call("GET", "state")
