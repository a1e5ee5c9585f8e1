"""The policy files: DESIGN.md's defaults as data, versioned."""

from rules.authority import tier_for
from schema.enums import ApprovalTier, ClaimType
from schema.policy import POLICY_DIR, load_policy


def test_the_newest_policy_file_is_the_default():
    load_policy.cache_clear()
    newest = max(POLICY_DIR.glob("v*.json"), key=lambda p: int(p.stem[1:])).stem
    assert load_policy().version == newest == "v5"


def test_v1_holds_the_design_defaults():
    policy = load_policy("v1")
    assert policy.cap(ClaimType.property_damage) == 10_000_000
    assert policy.cap(ClaimType.work_not_done) == policy.cap(ClaimType.not_as_agreed) == 250_000
    assert policy.claim_types[ClaimType.property_damage].filing_window_days == 14
    assert policy.claim_types[ClaimType.not_as_agreed].filing_window_days == 45


def test_tiers_follow_the_authority_limits():
    policy = load_policy("v1")
    assert tier_for(policy, 250_000) == ApprovalTier.lead
    assert tier_for(policy, 250_001) == ApprovalTier.manager
    assert tier_for(policy, 2_500_001) == ApprovalTier.director
    assert tier_for(policy, 10_000_001) == ApprovalTier.director_and_finance


def test_v2_reaches_director_and_finance_below_the_cap():
    v1, v2 = load_policy("v1"), load_policy("v2")
    cap = v2.cap(ClaimType.property_damage)
    assert tier_for(v1, cap) == ApprovalTier.director, "in v1 the top tier is out of reach"
    assert tier_for(v2, 5_000_000) == ApprovalTier.director
    assert tier_for(v2, 5_000_001) == ApprovalTier.director_and_finance
    same = {"version", "authority_cents"}
    assert v2.model_dump(exclude=same) == v1.model_dump(exclude=same), "v2 changes only the director's limit"


def test_the_current_policy_can_be_a_file(tmp_path, monkeypatch):
    custom = load_policy("v1").model_copy(update={"version": "acme-2"})
    path = tmp_path / "policy.json"
    path.write_text(custom.model_dump_json())
    monkeypatch.setenv("GUARANTEE_POLICY", str(path))
    load_policy.cache_clear()
    try:
        assert load_policy().version == "acme-2"
    finally:
        load_policy.cache_clear()
