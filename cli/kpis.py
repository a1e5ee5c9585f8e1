"""`guarantee kpis` and `guarantee signals`: the KPI report and the risk signals as readable tables."""

from cli.show import table


def _hours(seconds: float | None) -> str | None:
    return None if seconds is None else f"{seconds / 3600:,.1f}"


def _share(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.1f}%"


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items()) or "none"


def report(found: dict) -> str:
    rows = [found["total"], *found["groups"]]
    title = f"KPIs {found['date_from']} to {found['date_to']} (UTC days)" + (
        f", by {found['by']}" if found["by"] != "none" else ""
    )
    out = [title, "", "Claims"]
    out.append(
        table(
            ["group", "opened", "resolved", "paid", "denied", "withdrawn", "no evidence", "cancelled", "mediated"],
            [
                [r["label"], r["opened"], r["resolved"], r["paid"], r["denied"], r["withdrawn"]]
                + [r["closed_no_evidence"], r["payout_cancelled"], r["mediated"]]
                for r in rows
            ],
        )
    )
    out += ["", "Cycle times, hours (p50 / p90 / max)"]
    names = list(found["total"]["cycle_times"])
    out.append(
        table(
            ["group", *[n.replace("_", " ") for n in names]],
            [
                [r["label"]]
                + [
                    " / ".join(_hours(t[f"{s}_seconds"]) or "-" for s in ("p50", "p90", "max"))
                    for t in (r["cycle_times"][n] for n in names)
                ]
                for r in rows
            ],
        )
    )
    out += ["", "Reviews and SLAs"]
    out.append(
        table(
            ["group", "SLA breaches", "resolved with a breach", "approved at first review", "send-back rate"],
            [
                [
                    r["label"],
                    _counts(r["sla_breaches"]),
                    _share(r["breach_share"]),
                    _share(r["first_review_approval_rate"]),
                    _share(r["send_back_rate"]),
                ]
                for r in rows
            ],
        )
    )
    out += ["", "Money"]
    money = [
        [r["label"], a["currency"], *(f"{a[k] / 100:,.2f}" for k in ("claimed_cents", "approved_cents", "paid_cents"))]
        + [_share(r["paid_to_claimed_ratio"])]
        for r in rows
        for a in r["amounts"]
    ]
    out.append(
        table(["group", "currency", "claimed", "approved", "paid", "paid / claimed"], money) if money else "none"
    )
    out += ["", "Denials, payout failures, discrepancies"]
    out.append(
        table(
            ["group", "denials by reason", "payout failures by code", "discrepancies by kind"],
            [
                [
                    r["label"],
                    _counts(r["denials_by_reason"]),
                    _counts(r["payout_failures_by_code"]),
                    _counts(r["discrepancies_by_kind"]),
                ]
                for r in rows
            ],
        )
    )
    return "\n".join(out)


def signals(found: dict) -> str:
    head = f"Signals at {found['at']} (rules {found['rules_version']})"
    if not found["signals"]:
        return f"{head}\n\nnone"
    rows = [
        [
            s["rule"],
            s["subject"],
            s["count"],
            s["detail"],
            ", ".join(s["claim_ids"][:5]) + ("…" if len(s["claim_ids"]) > 5 else ""),
        ]
        for s in found["signals"]
    ]
    return f"{head}\n\n" + table(["rule", "subject", "count", "detail", "claims"], rows)


def digests(found: list) -> str:
    if not found:
        return "No weekly digests yet (the Schedule builds one every Monday for the week before)."
    rows = [
        [d["id"], f"{d['week_start']} to {d['week_end']}", d["built_at"][:16].replace("T", " "), d["mail_state"]]
        + [", ".join(d["recipients"]) or "none"]
        for d in found
    ]
    return table(["id", "week", "built (UTC)", "mail", "for"], rows)


def digest(found: dict) -> str:
    body = found["body"]
    new = {"at": body["signals_at"], "rules_version": body["rules_version"], "signals": body["new_signals"]}
    mail = found["mail_state"] + (f" to {', '.join(found['mailed_to'])}" if found["mailed_to"] else "")
    mail += f" ({found['mail_error']})" if found.get("mail_error") else ""
    head = [
        f"Weekly digest {found['id']}: {found['week_start']} to {found['week_end']}, built {found['built_at']}",
        f"for {', '.join(found['recipients']) or 'nobody'}; mail {mail}",
        "",
    ]
    return "\n".join(head) + report(body["kpis"]) + "\n\nNew " + signals(new)
