"""The policy file: the default of DESIGN.md, as data."""

from schema.enums import ApprovalTier, ClaimType
from schema.policy import load_policy


def test_v1_is_the_default_policy():
    policy = load_policy("v1")
    assert policy.cap(ClaimType.property_damage) == 10_000_000
    assert policy.cap(ClaimType.work_not_done) == policy.cap(ClaimType.not_as_agreed) == 250_000
    assert policy.claim_types[ClaimType.property_damage].filing_window_days == 14
    assert policy.claim_types[ClaimType.not_as_agreed].filing_window_days == 45


def test_tiers_follow_the_authority_limits():
    policy = load_policy("v1")
    assert policy.tier_for(250_000) == ApprovalTier.lead
    assert policy.tier_for(250_001) == ApprovalTier.manager
    assert policy.tier_for(2_500_001) == ApprovalTier.director
    assert policy.tier_for(10_000_001) == ApprovalTier.director_and_finance


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
