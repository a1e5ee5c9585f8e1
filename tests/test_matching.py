"""Reconciliation matching: each planted discrepancy found exactly, nothing else; random data
against a plain dict-based reference; the spool's and the ledger query's orders agree with match()."""

import os
import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
import stripe

from finance.ledger import stream_ledger
from finance.lines import LedgerLine, ProviderLine, provider_line, refund_line, transfer_line
from finance.matching import DISCREPANCIES, Kind, UnsortedInput, match
from finance.spool import ProviderSpool, sorted_by_key
from schema.names import payout_key

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
EPOCH0 = int(T0.timestamp())
_AUTO = object()


def led(claim, attempt=1, status="paid", amount=10_000, currency="USD", ref=_AUTO, at=T0) -> LedgerLine:
    if ref is _AUTO:
        ref = f"tr_{claim}_{attempt}" if status == "paid" else None
    return LedgerLine(payout_key(claim, attempt), claim, attempt, ref, amount, currency, status, at)


def obj(claim, attempt=1, status="paid", amount=10_000, currency="USD", oid=None, created=EPOCH0, keyless=False):
    key = None if keyless else payout_key(claim, attempt)
    return ProviderLine(
        key, oid or f"tr_{claim}_{attempt}", None if keyless else claim, amount, currency, status, created
    )


def run(ledger, provider, **options):
    """match() over both sides in the order it needs: ledger by key, provider through the spool."""
    return list(match(sorted(ledger, key=lambda line: line.key), sorted_by_key(provider), **options))


def by_text(item):
    return tuple("" if part is None else part for part in item)


def summary(findings):
    return sorted(((f.kind.value, f.key, f.provider.object_id if f.provider else None) for f in findings), key=by_text)


def problems(findings):
    return summary(f for f in findings if f.kind in DISCREPANCIES)


def key(claim, attempt=1):
    return payout_key(claim, attempt)


# -- every kind, alone -------------------------------------------------------------------------


def test_agreeing_sides_are_all_matched():
    ledger = [led("a"), led("b", amount=1), led("c", currency="EUR")]
    provider = [obj("c", currency="EUR"), obj("a"), obj("b", amount=1)]
    assert summary(run(ledger, provider)) == [
        ("matched", key("a"), "tr_a_1"),
        ("matched", key("b"), "tr_b_1"),
        ("matched", key("c"), "tr_c_1"),
    ]


@pytest.mark.parametrize(
    "ledger, provider, expected",
    [
        pytest.param([led("x")], [], [("missing_at_provider", key("x"), None)], id="missing_at_provider"),
        pytest.param([], [obj("x")], [("missing_in_ledger", key("x"), "tr_x_1")], id="missing_in_ledger"),
        pytest.param(
            [], [obj("x", status="failed")], [("missing_in_ledger", key("x"), "tr_x_1")], id="missing_in_ledger_failed"
        ),
        pytest.param(
            [], [obj("x", keyless=True, oid="tr_manual")], [("missing_in_ledger", None, "tr_manual")], id="keyless"
        ),
        pytest.param(
            [led("x")], [obj("x", amount=9_999)], [("amount_mismatch", key("x"), "tr_x_1")], id="amount_mismatch"
        ),
        pytest.param(
            [led("x")], [obj("x", currency="EUR")], [("currency_mismatch", key("x"), "tr_x_1")], id="currency_mismatch"
        ),
        pytest.param(
            [led("x")], [obj("x", status="reversed")], [("status_mismatch", key("x"), "tr_x_1")], id="paid_reversed"
        ),
        pytest.param(
            [led("x")], [obj("x", status="failed")], [("status_mismatch", key("x"), "tr_x_1")], id="paid_failed"
        ),
        pytest.param(
            [led("x", status="pending")], [obj("x")], [("status_mismatch", key("x"), "tr_x_1")], id="pending_paid"
        ),
        pytest.param(
            [led("x", status="failed")], [obj("x")], [("status_mismatch", key("x"), "tr_x_1")], id="failed_paid"
        ),
        pytest.param(
            [led("x", status="failed")],
            [obj("x", status="reversed")],
            [("status_mismatch", key("x"), "tr_x_1")],
            id="failed_reversed",
        ),
        pytest.param([led("x", ref="tr_other")], [obj("x")], [("ref_mismatch", key("x"), "tr_x_1")], id="ref_mismatch"),
        pytest.param([led("x", ref=None)], [obj("x")], [("ref_mismatch", key("x"), "tr_x_1")], id="paid_without_ref"),
        pytest.param(
            [led("x")],
            [obj("x"), obj("x", oid="tr_again", created=EPOCH0 + 5)],
            [("duplicate", key("x"), "tr_again")],
            id="duplicate",
        ),
    ],
)
def test_each_discrepancy_alone_is_found_and_nothing_else(ledger, provider, expected):
    background_ledger = [led("bg1"), led("bg2", status="failed"), led("bg3", status="pending")]
    background_provider = [obj("bg1")]
    findings = run(ledger + background_ledger, provider + background_provider)
    assert problems(findings) == sorted(expected, key=by_text)
    background = [f.kind for f in findings if f.key and f.key.startswith("claim-bg")]
    assert sorted(background) == [Kind.matched, Kind.no_money_moved, Kind.no_money_moved]


@pytest.mark.parametrize(
    "ledger, provider",
    [
        pytest.param([led("x", status="failed")], [], id="failed_nothing"),
        pytest.param([led("x", status="pending")], [], id="pending_nothing"),
        pytest.param([led("x", status="failed")], [obj("x", status="failed")], id="failed_failed_refund"),
        pytest.param([led("x", status="pending")], [obj("x", status="failed", amount=1)], id="pending_failed_refund"),
    ],
)
def test_no_money_moved_on_either_side_is_not_a_discrepancy(ledger, provider):
    findings = run(ledger, provider)
    assert [f.kind for f in findings] == [Kind.no_money_moved]


def test_findings_carry_both_sides_and_a_detail():
    (finding,) = run([led("x", amount=500)], [obj("x", amount=700)])
    assert finding.kind == Kind.amount_mismatch and finding.claim_id == "x"
    assert finding.ledger.amount_cents == 500 and finding.provider.amount_cents == 700
    assert "500" in finding.detail and "700" in finding.detail


# -- combinations ------------------------------------------------------------------------------


def test_duplicate_with_the_counted_object_at_the_wrong_amount():
    findings = run([led("x")], [obj("x", amount=1), obj("x", oid="tr_again", created=EPOCH0 + 5)])
    assert problems(findings) == [("amount_mismatch", key("x"), "tr_x_1"), ("duplicate", key("x"), "tr_again")]


def test_a_duplicate_at_another_amount_is_only_a_duplicate():
    findings = run([led("x")], [obj("x"), obj("x", oid="tr_again", amount=1, created=EPOCH0 + 5)])
    assert problems(findings) == [("duplicate", key("x"), "tr_again")]
    assert [f.kind for f in findings if f.provider.object_id == "tr_x_1"] == [Kind.matched]


def test_the_object_the_ledger_names_is_the_one_counted_even_if_created_later():
    first = obj("x", oid="tr_first", amount=1)
    named = obj("x", oid="tr_named", created=EPOCH0 + 60)
    findings = run([led("x", ref="tr_named")], [first, named])
    assert problems(findings) == [("duplicate", key("x"), "tr_first")]


def test_without_a_named_object_a_paid_one_is_counted_before_a_failed_one():
    failed = obj("x", oid="tr_a", status="failed")
    paid = obj("x", oid="tr_b", created=EPOCH0 + 5)
    findings = run([led("x", ref="tr_unknown")], [failed, paid])
    assert problems(findings) == [("duplicate", key("x"), "tr_a"), ("ref_mismatch", key("x"), "tr_b")]


def test_duplicates_without_a_ledger_row():
    findings = run([], [obj("x", oid="tr_b", created=EPOCH0 + 5), obj("x", oid="tr_a")])
    assert problems(findings) == [("duplicate", key("x"), "tr_b"), ("missing_in_ledger", key("x"), "tr_a")]


def test_one_pair_wrong_in_every_way_yields_one_finding_per_way():
    findings = run([led("x")], [obj("x", status="reversed", amount=1, currency="EUR", oid="tr_else")])
    assert [f.kind.value for f in findings] == [
        "status_mismatch",
        "amount_mismatch",
        "currency_mismatch",
        "ref_mismatch",
    ]


def test_keyless_objects_among_keyed_ones():
    manual = obj("", keyless=True, oid="tr_manual", created=EPOCH0 - 10)
    half = ProviderLine(None, "tr_half", "y", 10_000, "USD", "paid", EPOCH0)  # claim_id but no attempt
    findings = run([led("a"), led("b")], [obj("b"), manual, obj("a"), half])
    assert problems(findings) == [("missing_in_ledger", None, "tr_half"), ("missing_in_ledger", None, "tr_manual")]
    assert [f.claim_id for f in findings if f.provider and f.provider.object_id == "tr_half"] == ["y"]
    assert sum(f.kind == Kind.matched for f in findings) == 2


def test_keyless_objects_may_come_anywhere_in_the_provider_stream():
    manual = obj("", keyless=True, oid="tr_manual")
    findings = list(match([led("a"), led("c")], [obj("a"), manual, obj("b"), manual._replace(object_id="tr_2")]))
    assert problems(findings) == [
        ("missing_at_provider", key("c"), None),
        ("missing_in_ledger", None, "tr_2"),
        ("missing_in_ledger", None, "tr_manual"),
        ("missing_in_ledger", key("b"), "tr_b_1"),
    ]


@pytest.mark.parametrize(
    "ledger, provider, expected",
    [
        ([], [], []),
        ([led("a"), led("b", status="failed")], [], ["missing_at_provider", "no_money_moved"]),
        ([], [obj("a"), obj("a", oid="tr_2", created=EPOCH0 + 1)], ["missing_in_ledger", "duplicate"]),
    ],
    ids=["both_empty", "provider_empty", "ledger_empty"],
)
def test_empty_sides(ledger, provider, expected):
    assert [f.kind.value for f in run(ledger, provider)] == expected


# -- contract ----------------------------------------------------------------------------------


def test_unsorted_input_is_refused_not_misreported():
    with pytest.raises(UnsortedInput, match="ledger"):
        list(match([led("b"), led("a")], []))
    with pytest.raises(UnsortedInput, match="repeated"):
        list(match([led("a"), led("a")], []))
    with pytest.raises(UnsortedInput, match="provider"):
        list(match([], [obj("b"), obj("a")]))
    with pytest.raises(UnsortedInput, match="provider"):
        list(match([], [obj("a"), obj("b"), obj("a", oid="tr_2")]))


def test_a_period_reports_each_key_once_without_false_findings_at_its_edges():
    day = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))
    late = datetime(2025, 3, 1, 23, 59, 59, tzinfo=UTC)
    ledger = [
        led("late", at=late),  # its transfer is stamped the next day
        led("before", at=day[0] - timedelta(seconds=1)),  # the previous day's
        led("after", at=day[1]),  # the next day's, missing at the provider: not today's finding
    ]
    provider = [
        obj("late", created=int(late.timestamp()) + 2),
        obj("before", created=int(day[0].timestamp()) + 1),  # ledger row the day before: not today's
        obj("stray", created=int(day[0].timestamp()) + 3600),  # no ledger row, created today
        obj("", keyless=True, oid="tr_yesterday", created=int(day[0].timestamp()) - 5),
    ]
    findings = run(ledger, provider, period=day)
    assert summary(findings) == [
        ("matched", key("late"), "tr_late_1"),
        ("missing_in_ledger", key("stray"), "tr_stray_1"),
    ]


# -- random data against a reference -----------------------------------------------------------


def reference(ledger, provider):
    """The same rules the plain way: everything in dicts, each key decided on its own."""
    out = []
    by_key = defaultdict(list)
    for p in provider:
        if p.key is None:
            out.append(("missing_in_ledger", None, p.object_id))
        else:
            by_key[p.key].append(p)
    rows = {line.key: line for line in ledger}
    for k in set(rows) | set(by_key):
        line, objects = rows.get(k), by_key.get(k, [])
        if line is None:
            objects.sort(key=lambda p: (p.status != "paid", p.created, p.object_id))
            out.append(("missing_in_ledger", k, objects[0].object_id))
            out += [("duplicate", k, p.object_id) for p in objects[1:]]
            continue
        if not objects:
            out.append(("missing_at_provider" if line.status == "paid" else "no_money_moved", k, None))
            continue
        named = [p for p in objects if p.object_id == line.provider_ref]
        rest = sorted(
            (p for p in objects if p not in named), key=lambda p: (p.status != "paid", p.created, p.object_id)
        )
        counted, extra = (named + rest)[0], (named + rest)[1:]
        out += [("duplicate", k, p.object_id) for p in extra]
        agree = {("paid", "paid"), ("pending", "failed"), ("failed", "failed")}
        pair = (line.status, counted.status)
        if pair in {("pending", "failed"), ("failed", "failed")}:
            out.append(("no_money_moved", k, counted.object_id))
            continue
        kinds = []
        if pair not in agree:
            kinds.append("status_mismatch")
        if line.amount_cents != counted.amount_cents:
            kinds.append("amount_mismatch")
        if line.currency != counted.currency:
            kinds.append("currency_mismatch")
        if line.provider_ref != counted.object_id and not (line.status != "paid" and line.provider_ref is None):
            kinds.append("ref_mismatch")
        out += [(kind, k, counted.object_id) for kind in kinds or ["matched"]]
    return sorted(out, key=by_text)


def random_sides(rnd: random.Random):
    ledger, provider = [], []
    claims = [uuid.UUID(int=rnd.getrandbits(128)).hex[: rnd.choice([3, 12])] for _ in range(rnd.randint(0, 40))]
    for claim in dict.fromkeys(claims):
        for attempt in range(1, rnd.randint(1, 3) + 1):
            status = rnd.choice(["paid"] * 6 + ["failed", "pending"])
            ids = [
                f"{rnd.choice(['tr', 're'])}_{rnd.getrandbits(40):x}" for _ in range(rnd.choice([0, 1, 1, 1, 1, 2, 3]))
            ]
            if rnd.random() < 0.9:
                ref = rnd.choice(ids + [None, "tr_gone"]) if rnd.random() < 0.15 else (ids[0] if ids else "tr_gone")
                ref = ref if status == "paid" or rnd.random() < 0.1 else None
                amount = rnd.choice([100, 2_500, 2_500, 2_500])
                ledger.append(led(claim, attempt, status, amount, rnd.choice(["USD"] * 5 + ["EUR"]), ref=ref))
            for oid in ids:
                provider.append(
                    obj(
                        claim,
                        attempt,
                        status=rnd.choice(["paid"] * 6 + ["failed", "reversed"]),
                        amount=rnd.choice([100, 2_500, 2_500, 2_500]),
                        currency=rnd.choice(["USD"] * 5 + ["EUR"]),
                        oid=oid,
                        created=EPOCH0 + rnd.randint(0, 3),
                    )
                )
    for _ in range(rnd.choice([0, 0, 1, 2])):
        provider.append(obj("", keyless=True, oid=f"tr_manual_{rnd.getrandbits(40):x}", created=EPOCH0))
    rnd.shuffle(provider)
    return ledger, provider


@pytest.mark.parametrize("seed", range(300))
def test_random_sides_agree_with_the_reference(seed):
    rnd = random.Random(seed)
    ledger, provider = random_sides(rnd)
    findings = run(ledger, provider)
    assert summary(findings) == reference(ledger, provider)
    assert {f.ledger for f in findings if f.ledger} == set(ledger), "every ledger line is classified"
    assert {f.provider for f in findings if f.provider} == set(provider), "every provider line is classified"


# -- the provider side: Stripe objects, the spool ----------------------------------------------


def transfer(**fields):
    base = {
        "id": "tr_1",
        "object": "transfer",
        "amount": 1100,
        "amount_reversed": 0,
        "created": EPOCH0,
        "currency": "usd",
        "destination": "acct_1",
        "metadata": {"claim_id": "c1", "attempt": "2"},
        "reversals": {"object": "list", "data": [], "has_more": False, "url": "/v1/transfers/tr_1/reversals"},
        "reversed": False,
        "transfer_group": "claim-c1",
    }
    return base | fields


def refund(**fields):
    base = {
        "id": "re_1",
        "object": "refund",
        "amount": 100,
        "charge": "ch_1",
        "created": EPOCH0,
        "currency": "usd",
        "metadata": {"claim_id": "c1", "attempt": "1"},
        "status": "succeeded",
    }
    return base | fields


def test_a_transfer_line():
    assert provider_line(transfer()) == ProviderLine("claim-c1-payout-2", "tr_1", "c1", 1100, "USD", "paid", EPOCH0)
    assert transfer_line(transfer(reversed=True, amount_reversed=1100)).status == "reversed"
    assert transfer_line(transfer(amount_reversed=100)).status == "reversed", "a partial reversal"


@pytest.mark.parametrize(
    "status, expected",
    [
        ("succeeded", "paid"),
        ("pending", "paid"),
        ("requires_action", "paid"),
        ("failed", "failed"),
        ("canceled", "failed"),
    ],
)
def test_a_refund_line(status, expected):
    line = refund_line(refund(status=status))
    assert (line.key, line.object_id, line.currency, line.status) == ("claim-c1-payout-1", "re_1", "USD", expected)


@pytest.mark.parametrize(
    "metadata, key, claim",
    [
        ({}, None, None),
        ({"claim_id": "c1"}, None, "c1"),
        ({"claim_id": "c1", "attempt": "x"}, None, "c1"),
        (None, None, None),
    ],
)
def test_objects_without_usable_claim_metadata_have_no_key(metadata, key, claim):
    line = provider_line(transfer(metadata=metadata))
    assert (line.key, line.claim_id) == (key, claim)


def test_sdk_objects_are_read_through_to_dict():
    sdk = stripe.StripeObject.construct_from(transfer(), "sk_test")
    assert provider_line(sdk) == provider_line(transfer())
    with pytest.raises(ValueError, match="not a transfer or refund"):
        provider_line({"object": "charge", "id": "ch_1"})


def test_the_spool_sorts_by_key_with_keyless_lines_first_across_batches():
    rnd = random.Random(7)
    lines = [obj(f"{rnd.getrandbits(32):08x}", oid=f"tr_{i}", created=EPOCH0 + rnd.randint(0, 9)) for i in range(2_500)]
    lines += [obj("", keyless=True, oid=f"tr_k{i}") for i in range(3)]
    with ProviderSpool(batch_size=100) as spool:
        for line in lines[:1000]:
            spool.add(line)
        spool.extend(lines[1000:])
        assert len(spool) == len(lines)
        out = list(spool.sorted())
    assert [line.key for line in out[:3]] == [None] * 3
    keyed = out[3:]
    assert keyed == sorted(keyed, key=lambda line: (line.key, line.created, line.object_id))
    assert sorted(out, key=repr) == sorted(lines, key=repr)


# -- the ledger side: the database's order is match()'s order ----------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request, tmp_path):
    from schema.database import make_engine, migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        migrate(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
        return
    pg = os.environ.get("GUARANTEE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    admin = pg.replace("postgresql+psycopg", "postgresql")
    name = f"guarantee_recon_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            try:  # a locale collation, where ORDER BY without COLLATE "C" would not be Python's order
                conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
            except psycopg.errors.DatabaseError:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL not reachable at {pg}: {str(err).strip().splitlines()[0]}")
    url = pg.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _insert_ledger(engine, ledger):
    from schema import tables

    with engine.begin() as conn:
        conn.execute(
            tables.User.__table__.insert(),
            [
                {
                    "id": "u1",
                    "name": "finance",
                    "role": "finance",
                    "token_hash": "x" * 64,
                    "created_at": T0,
                    "active": True,
                    "token_expires_at": T0,
                }
            ],
        )
        claim_row = {
            "customer_id": "cu",
            "pro_id": "pr",
            "project_id": "pj",
            "type": "property_damage",
            "status": "paid",
            "amount_cents": 1,
            "currency": "USD",
            "incident_date": date(2025, 2, 1),
            "channel": "phone",
            "description": "-",
            "opened_by": "u1",
            "opened_at": T0,
            "updated_at": T0,
            "policy_version": "1",
            "risk_flags": [],
            "eligibility_issues": [],
            "sla_breaches": [],
        }
        conn.execute(
            tables.Claim.__table__.insert(), [claim_row | {"id": c} for c in {line.claim_id for line in ledger}]
        )
        rows = [
            {
                "claim_id": line.claim_id,
                "attempt": line.attempt,
                "idempotency_key": line.key,
                "amount_cents": line.amount_cents,
                "currency": line.currency,
                "status": line.status,
                "provider": "stripe",
                "provider_ref": line.provider_ref,
                "created_at": line.created_at,
            }
            for line in ledger
        ]
        conn.execute(tables.Payout.__table__.insert(), rows)


def test_the_ledger_comes_out_of_the_database_in_match_order(fresh_db):
    # Mixed case, digits and punctuation: a locale collation (en_US) orders these differently.
    claims = ["B-2", "a_1", "a-1", "Z", "b", "ab", "a.b", "A", "9x", "é"]
    ledger = [
        led(c, attempt, at=T0 + timedelta(minutes=i), currency="usd" if i % 2 else "USD")
        for i, (c, attempt) in enumerate((c, a) for c in claims for a in (1, 2, 10))
    ]
    _insert_ledger(fresh_db, ledger)
    with fresh_db.connect() as conn:
        streamed = list(stream_ledger(conn, T0, T0 + timedelta(days=1), batch=7))
        assert [line.key for line in streamed] == sorted(line.key for line in ledger)
        assert {line.currency for line in streamed} == {"USD"}
        assert streamed[0].created_at.tzinfo is not None
        provider = [obj(line.claim_id, line.attempt) for line in ledger]
        findings = list(match(stream_ledger(conn, batch=5), sorted_by_key(provider, batch_size=4)))
    assert {f.kind for f in findings} == {Kind.matched} and len(findings) == len(ledger)
    with fresh_db.connect() as conn:
        assert list(stream_ledger(conn, T0 + timedelta(minutes=3), T0 + timedelta(minutes=5))) == [
            line._replace(currency="USD") for line in sorted(ledger[3:5], key=lambda line: line.key)
        ]


# -- end to end through the Stripe API (the embedded stub) -------------------------------------


@pytest.fixture(scope="module")
def own_stub(tmp_path_factory):
    """A stub of its own, so other tests' transfers do not show up in its lists."""
    from stripe_stub.control import StubControl
    from stripe_stub.server import start_in_thread

    url, stop = start_in_thread(tmp_path_factory.mktemp("recon-stripe") / "state.json")
    yield url, StubControl(url)
    stop()


def test_objects_listed_page_by_page_through_the_sdk_reconcile(own_stub):
    from payments.provider import PaymentRequest
    from payments.stripe_provider import StripeProvider
    from schema.enums import PayoutMethod
    from stack.config import STUB_API_KEY

    url, control = own_stub
    charge = control.seed(charges=[{"amount": 50_000, "currency": "usd"}])["charges"][0]["id"]
    provider = StripeProvider(STUB_API_KEY, url, timeout_seconds=5)
    client = stripe.StripeClient(STUB_API_KEY, base_addresses={"api": url}, max_network_retries=0)
    ledger = []
    for i in range(7):
        claim = f"e2e{i}"
        method = PayoutMethod.refund if i % 3 == 0 else PayoutMethod.transfer
        request = PaymentRequest(
            idempotency_key=payout_key(claim, 1),
            claim_id=claim,
            attempt=1,
            amount_cents=1_000 + i,
            currency="USD",
            method=method,
            destination=charge if method == PayoutMethod.refund else "acct_good",
        )
        receipt = provider.pay(request)
        ledger.append(led(claim, amount=1_000 + i, ref=receipt.provider_ref))
    ledger.append(led("e2e-never-sent", amount=5))  # the ledger says paid; nothing at Stripe
    stray = client.v1.transfers.create(params={"amount": 77, "currency": "usd", "destination": "acct_good"})
    reversed_ref = ledger[1].provider_ref  # e2e1: a transfer, then reversed in part at the provider
    client.v1.transfers.reversals.create(reversed_ref, params={"amount": 100})

    with ProviderSpool(batch_size=3) as spool:
        for kind in (client.v1.transfers, client.v1.refunds):
            spool.extend(provider_line(o) for o in kind.list(params={"limit": 2}).auto_paging_iter())
        findings = list(match(sorted(ledger, key=lambda line: line.key), spool.sorted()))
    assert problems(findings) == [
        ("missing_at_provider", key("e2e-never-sent"), None),
        ("missing_in_ledger", None, stray.id),
        ("status_mismatch", key("e2e1"), reversed_ref),
    ]
    assert sum(f.kind == Kind.matched for f in findings) == 6


# -- the benchmark, small ----------------------------------------------------------------------


def test_the_benchmark_finds_what_it_plants(tmp_path, capsys):
    from benchmarks.reconcile import main

    result = tmp_path / "result.json"
    code = main(["--payouts", "3000", "--per-kind", "5", "--workdir", str(tmp_path), "--result", str(result)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out and out.count("ok  ") == 4
